"""The scheduling examples and the production config of docs/operations.md stay runnable.

Each example's command line is handed to the real CLI with ``--help`` appended, so a flag
that is renamed or removed breaks this test instead of a site's weekly job.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from mirrorkit.core.config.model import load_config
from mirrorkit.core.plugin.host import load_plugins
from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def mirrorkit_args(command: str) -> list[str]:
    """The arguments after the ``mirrorkit`` executable in a shell command line."""
    words = shlex.split(command)
    start = next(i for i, w in enumerate(words) if w.endswith("/mirrorkit"))
    args = words[start + 1:]
    return args[:next((i for i, w in enumerate(args) if w.startswith(">")), len(args))]


def assert_cli_accepts(args: list[str]) -> None:
    assert "--config" in args
    res = run_cli(*args, "--help")
    assert res.code == 0, res.stderr


def test_systemd_units() -> None:
    service = (EXAMPLES / "systemd" / "mirrorkit.service").read_text()
    timer = (EXAMPLES / "systemd" / "mirrorkit.timer").read_text()
    exec_start = re.search(r"^ExecStart=(.*?)(?<!\\)$", service, re.M | re.S)
    assert exec_start is not None
    assert "Type=oneshot" in service
    assert_cli_accepts(mirrorkit_args(exec_start.group(1).replace("\\\n", " ")))
    assert re.search(r"^OnCalendar=Sun ", timer, re.M)
    assert "Persistent=true" in timer and "WantedBy=timers.target" in timer


def test_cron_line() -> None:
    lines = [line for line in (EXAMPLES / "cron.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:5] == ["0", "2", "*", "*", "0"]  # weekly
    assert_cli_accepts(mirrorkit_args(fields[6].split(";")[-1]))


def test_kubernetes_cronjob() -> None:
    docs = list(yaml.safe_load_all((EXAMPLES / "k8s-cronjob.yaml").read_text()))
    cron = next(d for d in docs if d["kind"] == "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v}
    assert claims <= {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    assert_cli_accepts(pod["containers"][0]["args"])


def test_production_config_of_the_operations_doc_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    config = tmp_path / "mirrors.toml"
    config.write_text(block.group(1))
    monkeypatch.setenv("CHAT_WEBHOOK_URL", "https://chat.example.org/hooks/abc")
    [mirror] = load_config(config, load_plugins())
    assert [s.type for s in mirror.sinks] == ["s3"]
    assert [(n.type, n.on) for n in mirror.notify] == [("webhook", "failure"), ("sns", "always")]
    assert mirror.settings.metrics_file is not None
