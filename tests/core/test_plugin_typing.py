"""A plugin written only against ``mirrorkit.api`` passes ``mypy --strict`` against a normal
(non-editable) install: the installed package ships ``py.typed`` and every name it needs.

The checkout is installed with pip (a wheel build, as a user's ``pip install`` does) into a
fresh directory, and mypy runs with a fresh interpreter whose path holds that install and
the test environment's third-party packages, but not the checkout itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = textwrap.dedent('''
    from collections.abc import AsyncIterator
    from pathlib import Path

    from pydantic import BaseModel, ConfigDict, Field

    from mirrorkit.api import (
        API_REVISION, Artifact, BasicAuth, Digest, Fetched, FileEntry, Kind,
        NotifierCollection, NotifyContext, NotifyError, PlanContext, PlanError,
        PreviousSnapshot, RegistryCollection, RunReport, SinkCollection, SinkContext,
        SinkError, Validators, VerifyResult, hookimpl,
    )

    assert API_REVISION >= 4


    class TypedOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")
        url: str = Field(description="Where the files are.")


    class Registry:
        name = "typed"
        summary = "A plugin type-checked against the installed package"
        Options = TypedOptions

        async def plan(self, options: TypedOptions, ctx: PlanContext) -> AsyncIterator[Artifact]:
            prev: PreviousSnapshot | None = ctx.previous
            entry: FileEntry | None = prev.files.get("a") if prev else None
            if entry is not None and entry.kind is Kind.INDEX:
                raise PlanError("a is an index")
            got: Fetched = await ctx.fetch(Artifact.index("index", options.url))
            path: Path = got.path
            if not got.changed and ctx.keep_previous_plan():
                return
            saved: bytes | None = await ctx.state.read_bytes("seen")
            ctx.state.write_bytes("seen", saved or got.sha256.encode())
            resp = await ctx.get(options.url, conditional=Validators(etag='"1"'))
            if resp.not_modified:
                ctx.log.info("unchanged")
            yield Artifact.blob("a", options.url + "/a", digest=Digest.sha256("0" * 64),
                                auth=BasicAuth("user", "token"))
            yield Artifact.local("gen", path, kind=Kind.BLOB)


    class Sink:
        name = "typed-sink"
        summary = "..."
        Options = TypedOptions

        async def publish(self, options: TypedOptions, ctx: SinkContext) -> str:
            if not ctx.manifest.files:
                raise SinkError("empty")
            return f"{len(ctx.manifest.files)} files"


    class Notifier:
        name = "typed-notifier"
        summary = "..."
        Options = TypedOptions

        async def notify(self, options: TypedOptions, ctx: NotifyContext) -> str:
            if ctx.status != "ok":
                raise NotifyError(ctx.summary)
            return "sent"


    @hookimpl
    def mirrorkit_add_registries(registries: RegistryCollection) -> None:
        registries.add(Registry)


    @hookimpl
    def mirrorkit_add_sinks(sinks: SinkCollection) -> None:
        sinks.add(Sink)


    @hookimpl
    def mirrorkit_add_notifiers(notifiers: NotifierCollection) -> None:
        notifiers.add(Notifier)


    @hookimpl
    def mirrorkit_run_finished(report: RunReport) -> None:
        print(report.status, [c.path for c in report.changes])


    @hookimpl
    def mirrorkit_verify_target(target: str, rehash: bool) -> VerifyResult | None:
        return None
''')

BROKEN = PLUGIN + "\nx: int = Artifact.blob('a', 'http://h/a')\n"


def _install(tmp: Path) -> tuple[Path, Path]:
    """pip install the checkout (not editable) into ``tmp/site``; a python that sees it."""
    site = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-compile", "--disable-pip-version-check",
         "--target", str(site), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # pip's wheel build leaves this behind
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    purelib = sysconfig.get_paths()["purelib"]  # the test env's pydantic, click, ...
    venv_site = next((venv / "lib").glob("python3*/site-packages"))
    # our install first; the checkout is not on this path (and its editable finder is a
    # .pth in purelib, which a path added this way does not run)
    (venv_site / "deps.pth").write_text(f"{site}\n{purelib}\n")
    return site, venv / "bin" / "python"


@pytest.mark.slow
def test_a_plugin_passes_mypy_strict_against_an_installed_mirrorkit(tmp_path: Path) -> None:
    site, python = _install(tmp_path)
    assert (site / "mirrorkit" / "py.typed").is_file()
    where = subprocess.run([str(python), "-c", "import mirrorkit; print(mirrorkit.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout  # not the checkout
    work = tmp_path / "plugin"
    work.mkdir()
    (work / "typed_plugin.py").write_text(PLUGIN)
    (work / "broken_plugin.py").write_text(BROKEN)
    (work / "mypy.ini").write_text("[mypy]\n")
    mypy = [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python),
            "--no-incremental", "--follow-imports=silent", "--config-file", str(work / "mypy.ini")]
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    # one mypy run for both (it dominates the test's time): the plugin is clean, and the
    # check has teeth (a wrong type in the same plugin is caught)
    res = subprocess.run([*mypy, "typed_plugin.py", "broken_plugin.py"], capture_output=True,
                         text=True, cwd=work, env=env, timeout=600)
    errors = [line for line in res.stdout.splitlines() if ": error:" in line]
    assert [e for e in errors if e.startswith("typed_plugin.py")] == [], res.stdout
    assert len(errors) == 1 and "Incompatible types in assignment" in errors[0], res.stdout
    assert errors[0].startswith("broken_plugin.py")
