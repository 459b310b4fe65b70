"""Config keys and flags are one vocabulary; help says what each flag takes.

One rule for lists: the key is plural (``tags``), the flag singular and repeated (``--tag``);
the other spelling is refused with a hint. Engine settings work per mirror as flags do.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.cli import run_cli


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mirrors.toml"
    path.write_text(text)
    return path


def test_the_flag_spelling_as_a_key_is_refused_with_the_key(tmp_path: Path) -> None:
    cfg = _toml(tmp_path, '[[mirrors]]\nregistry = "homebrew"\ntag = ["arm64_sequoia"]\n'
                          'formula = ["wget"]\ntap = ["a/b"]\n')
    res = run_cli("plan", "--config", cfg)
    assert res.code == 2
    for key, right in (("tag", "tags"), ("formula", "formulae"), ("tap", "taps")):
        assert f"mirrors[0].{key}: unknown key (did you mean '{right}'?)" in res.stderr


def test_the_key_spelling_as_a_flag_is_refused_with_the_flag() -> None:
    for wrong, right in (("--tags", "--tag"), ("--formulae", "--formula")):
        res = run_cli("run", "homebrew", wrong, "x")
        assert res.code == 2 and right in res.stderr and "did you mean" in res.stderr.lower()
        assert len(res.stderr.strip().splitlines()) == 1


def test_engine_settings_are_accepted_per_mirror(tmp_path: Path) -> None:
    cfg = _toml(tmp_path, '[[mirrors]]\nregistry = "static-list"\n'
                          'index_url = "http://127.0.0.1:9/index.json"\nretries = 0\n'
                          'concurrency = 3\n[[mirrors]]\nname = "two"\nregistry = "static-list"\n'
                          'index_url = "http://127.0.0.1:9/index.json"\nretries = 1\n'
                          'settings = {retries = 2}\n')
    res = run_cli("plan", "--config", cfg)
    assert res.code == 2  # the second mirror gives retries twice
    assert res.stderr.strip().splitlines() == [
        f"mirrorkit: error: {cfg}: mirrors[1].retries: given twice (also as settings.retries)"]


def test_a_typo_in_settings_is_reported_once(tmp_path: Path) -> None:
    mirror = '[[mirrors]]\nname = "{n}"\nregistry = "static-list"\nindex_url = "http://h/i"\n'
    cfg = _toml(tmp_path, "[settings]\nconcurency = 4\n" + mirror.format(n="a")
                + mirror.format(n="b"))
    res = run_cli("run", "--config", cfg)
    assert res.code == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [f"mirrorkit: error: {cfg}: settings.concurency: unknown key "
                     "(did you mean 'concurrency'?)"]


def test_an_unknown_registry_lists_the_known_ones_everywhere(tmp_path: Path) -> None:
    cfg = _toml(tmp_path, '[[mirrors]]\nregistry = "cargo"\n')
    for args in (("run", "cargo"), ("plan", "cargo", "--dest", "x"), ("run", "--config", cfg)):
        res = run_cli(*args)
        assert res.code == 2, args
        assert "'cargo'" in res.stderr and "homebrew" in res.stderr and "git" in res.stderr
        assert "No such command" not in res.stderr


def test_metavars_say_what_a_flag_takes() -> None:
    res = run_cli("run", "homebrew", "--help")
    for flag, metavar in (("--concurrency", "N"), ("--timeout", "SECONDS"), ("--dest", "DIR"),
                          ("--api-url", "URL"), ("--ca-bundle", "FILE"), ("--tag", "TAG")):
        assert re.search(rf"{flag} {metavar}\b", res.stdout), (flag, metavar)
    # no flag repeats its own name as its metavar (--concurrency CONCURRENCY)
    for flag, metavar in re.findall(r"--([a-z-]+) ([A-Z_]+)\b", res.stdout):
        if flag not in ("name", "tag"):  # --name NAME, --tag TAG: they do take those
            assert metavar != flag.upper().replace("-", "_"), flag
    assert res.stdout.count("Repeatable. Repeatable.") == 0


def test_the_registry_summary_is_printed_once() -> None:
    res = run_cli("run", "homebrew", "--help")
    summary = "Homebrew API files, bottles and OCI manifests for offline clients"
    assert res.stdout.count(summary) == 1


def test_command_summaries_are_not_truncated() -> None:
    for args in ((), ("run",), ("plan",)):
        res = run_cli(*args, "--help")
        commands = res.stdout.split("Commands:", 1)[1]
        assert "..." not in commands, args


def test_the_source_mirror_is_called_mirror_and_sizes_share_one_syntax() -> None:
    for command in ("export", "publish", "verify"):
        usage = run_cli(command, "--help").stdout.splitlines()[0]
        assert "MIRROR" in usage and "DEST" not in usage, usage
    assert "--part-size SIZE" in run_cli("export", "--help").stdout
    assert "--part-size SIZE" in run_cli("publish", "--help").stdout
    res = run_cli("publish", "/nonexistent", "s3://bucket/p", "--part-size", "64MiB")
    assert res.code == 2 and "--part-size" not in res.stderr  # the size parsed; the path did not


def test_verify_of_a_corrupted_mirror_says_what_was_checked(tmp_path: Path) -> None:
    from tests.support.static_list import index_url, publish
    from tests.support.upstream import Upstream

    with Upstream() as up:
        publish(up, {"a.bin": b"a" * 3000, "b.bin": b"b" * 10})
        dest = tmp_path / "m"
        assert run_cli("run", "static-list", "--index-url", index_url(up), "--dest",
                       dest).code == 0
    (dest / "a.bin").write_bytes(b"x" * 3000)
    res = run_cli("verify", dest)
    assert res.code == 1 and "corrupt: a.bin" in res.stderr
    assert "0.0 MB" not in res.stderr
    assert "3 files checked, 0 missing, 1 corrupt" in res.stderr and "2 verified" in res.stderr
