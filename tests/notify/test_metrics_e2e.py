"""The Prometheus text-file export, through the CLI, read back with Prometheus' own parser."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import run_cli
from tests.support.static_list import publish, run_args
from tests.support.upstream import Upstream


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(data: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          mirror: str, **labels: str) -> float:
    return data[(name, tuple(sorted({"mirror": mirror, **labels}.items())))]


def test_metrics_file_records_runs_and_keeps_the_last_success(
    upstream: Upstream, tmp_path: Path
) -> None:
    prom = tmp_path / "textfile" / "mirrorkit.prom"
    prom.parent.mkdir()
    publish(upstream, {"a.bin": b"a" * 1000, "b.bin": b"b" * 2000})
    dest = tmp_path / "mirror"
    res = run_cli(*run_args(upstream, dest, "--metrics-file", str(prom)))
    assert res.code == 0, res.stderr
    first = samples(prom)
    assert value(first, "mirrorkit_last_run_success", "static-list") == 1
    assert value(first, "mirrorkit_last_run_files", "static-list") == 3
    assert value(first, "mirrorkit_last_run_downloaded_files", "static-list") == 3
    assert value(first, "mirrorkit_last_run_downloaded_bytes", "static-list") >= 3000
    assert value(first, "mirrorkit_last_run_duration_seconds", "static-list") > 0
    success_at = value(first, "mirrorkit_last_success_timestamp_seconds", "static-list")
    assert success_at == value(first, "mirrorkit_last_run_timestamp_seconds", "static-list")

    # c.bin is listed with a wrong digest: the run fails
    publish(upstream, {"a.bin": b"a" * 1000, "b.bin": b"b" * 2000, "c.bin": b"c"},
            wrong_sha={"c.bin"})
    res = run_cli(*run_args(upstream, dest, "--metrics-file", str(prom), "--retries", "0"))
    assert res.code == 1
    second = samples(prom)
    assert value(second, "mirrorkit_last_run_success", "static-list") == 0
    assert value(second, "mirrorkit_last_run_failed_files", "static-list") == 1
    assert value(second, "mirrorkit_last_success_timestamp_seconds", "static-list") == success_at
    assert value(second, "mirrorkit_last_run_timestamp_seconds", "static-list") > success_at
    assert value(second, "mirrorkit_runs_total", "static-list", status="ok") == 1
    assert value(second, "mirrorkit_runs_total", "static-list", status="failed") == 1
    # written atomically: no temporary file is left for the textfile collector to trip on
    assert [p.name for p in prom.parent.iterdir()] == ["mirrorkit.prom"]

    plan = run_cli("plan", "static-list", "--index-url", upstream.url + "/repo/index.json",
                   "--dest", str(dest), "--metrics-file", str(prom))
    assert plan.code in (0, 1)
    assert samples(prom) == second  # a dry run is not a run


def test_mirrors_of_one_config_share_a_metrics_file(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a" * 10})
    prom = tmp_path / "all.prom"
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[settings]
metrics_file = "{prom}"
retries = 0

[[mirrors]]
name = "good"
registry = "static-list"
dest = "good"
index_url = "{upstream.url}/repo/index.json"

[[mirrors]]
name = "bad"
registry = "static-list"
dest = "bad"
index_url = "{upstream.url}/missing/index.json"
""")
    res = run_cli("run", "--config", config)
    assert res.code == 1
    data = samples(prom)
    assert value(data, "mirrorkit_last_run_success", "good") == 1
    assert value(data, "mirrorkit_last_run_success", "bad") == 0
    assert ("mirrorkit_last_success_timestamp_seconds", (("mirror", "bad"),)) not in data

    res = run_cli("run", "--config", config, "--only", "bad")
    data = samples(prom)
    assert value(data, "mirrorkit_last_run_success", "good") == 1  # kept
    assert value(data, "mirrorkit_runs_total", "bad", status="failed") == 2


def test_an_unwritable_metrics_file_is_one_error_line(upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"a.bin": b"a"})
    res = run_cli(*run_args(upstream, tmp_path / "mirror", "--metrics-file",
                            str(tmp_path / "no" / "such" / "dir" / "m.prom")))
    assert res.code == 0  # the mirror is fine; the error says why the metrics are stale
    assert "mirrorkit: error: metrics file " in res.stderr
    assert "cannot open its directory" in res.stderr
