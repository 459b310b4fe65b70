"""The ``mirrorkit`` command line.

Registry commands (``mirrorkit run homebrew``, ``mirrorkit plan git``) are generated from the
loaded plugins' options models, so a third-party registry gets its flags and ``--help`` for
free; plugins may also add whole commands through the ``mirrorkit_add_commands`` hook.
Exit codes: 0 ok, 1 the run had failures, 2 usage or configuration error.
"""

from __future__ import annotations

import atexit
import inspect
import json
import logging
import os
import sys
import threading
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import anyio
import click
from pydantic import ValidationError

from .core.cliopts import collect_values, flag_names, options_for_model
from .core.config import (
    ConfigError,
    EngineSettings,
    MirrorConfig,
    build_mirror,
    load_config,
)
from .core.lock import MirrorLock, MirrorLocked
from .core.logs import setup_logging
from .core.manifest import ManifestError
from .core.plugins import PluginError, PluginHost, load_plugins
from .core.redact import Redactor, redact
from .core.report import RunReport
from .core.sink import SinkContext, SinkError
from .core.verify import VerifyResult, forget_bad_files, verify_tree

log = logging.getLogger("mirrorkit")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@cache
def plugin_host() -> PluginHost:
    return load_plugins()


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"mirrorkit: error: {message}", err=True)
    sys.exit(code)


def _host_or_exit() -> PluginHost:
    try:
        return plugin_host()
    except PluginError as exc:
        fail(str(exc))


# --------------------------------------------------------------------------- running
def _summary(report: RunReport) -> str:
    mb = report.bytes_downloaded / 1e6
    verb = "would download" if report.dry_run else "downloaded"
    bytes_part = (f"{report.bytes_to_download / 1e6:.1f} MB"
                  + (f" (+{report.unknown_sizes} of unknown size)" if report.unknown_sizes else "")
                  if report.dry_run else f"{mb:.1f} MB")
    removed = "would remove" if report.dry_run else "removed"
    return (f"{report.mirror}: {report.status}: {report.files} files, {verb} "
            f"{report.downloaded} ({bytes_part}), kept {report.skipped}, {removed} "
            f"{report.removed}, failed {report.failed} in {report.duration_s:.1f}s"
            + (f"; snapshot {report.snapshot}" if report.snapshot else ""))


async def _run_sinks(host: PluginHost, mirror: MirrorConfig, report: RunReport) -> None:
    from .core.manifest import load_manifest

    manifest = load_manifest(mirror.dest)
    if manifest is None:
        return
    for i, sink in enumerate(mirror.sinks):
        reg = host.sinks.get(sink.type)
        key = f"{i}:{sink.type}"
        try:
            opts = reg.cls.Options.model_validate(sink.options())
            ctx = SinkContext(mirror=mirror.name, dest=Path(mirror.dest), manifest=manifest,
                              log=logging.getLogger(f"mirrorkit.sink.{sink.type}"))
            summary = await reg.cls().publish(opts, ctx)
            report.sinks[key] = f"ok: {summary}"
        except (SinkError, OSError, ValueError) as exc:
            report.sinks[key] = f"failed: {exc}"
            report.status = "failed"
            report.errors.append(_sink_error(sink.type, str(exc)))


def _sink_error(name: str, message: str) -> Any:
    from .core.report import ArtifactError

    return ArtifactError(path=f"<sink {name}>", error=message)


def _progress(label: str) -> AbstractContextManager[Any]:
    """Progress bars when stderr is a terminal; otherwise nothing, not even rich's import
    (20 ms) and its per-file bookkeeping (2% of a run of small files)."""
    if not (sys.stderr.isatty() or os.environ.get("FORCE_TERMINAL")):
        return nullcontext(None)
    from .core.progress import RichObserver

    return RichObserver(label)


def _notify_and_record(host: PluginHost, mirror: MirrorConfig, report: RunReport) -> list[str]:
    """Send the mirror's notifications and update its metrics file; lines for stderr."""
    from .metrics import MetricsError, write_run_metrics
    from .notify.dispatch import send_notifications

    lines = anyio.run(send_notifications, host, mirror, report) if mirror.notify else []
    if mirror.settings.metrics_file is not None:
        try:
            write_run_metrics(mirror.settings.metrics_file, report)
        except MetricsError as exc:
            lines.append(f"error: {exc}")
    return lines


def execute(mirrors: list[MirrorConfig], *, dry_run: bool, as_json: bool) -> NoReturn:
    # imported here: the HTTP client is start-up cost for commands that never download
    from .core.engine import MirrorRun

    host = _host_or_exit()
    reports: list[RunReport] = []
    for mirror in mirrors:
        label = f"{'planning' if dry_run else 'mirroring'} {mirror.name}"
        with _progress(label) as observer:
            run = MirrorRun(host, mirror, dry_run=dry_run, observer=observer,
                            command=" ".join(sys.argv[:3]) or "mirrorkit")
            try:
                report = anyio.run(run.run)
            except MirrorLocked as exc:
                fail(str(exc), EXIT_FAILED)
            except ManifestError as exc:
                fail(str(exc), EXIT_FAILED)
        if report.status == "ok" and mirror.sinks and not dry_run:
            anyio.run(_run_sinks, host, mirror, report)
        notes = [] if dry_run else _notify_and_record(host, mirror, report)
        host.run_finished(report)
        for err in report.errors[:50]:
            where = f" ({err.url})" if err.url else ""
            click.echo(redact(f"mirrorkit: failed: {err.path}: {err.error}{where}"), err=True)
        if len(report.errors) > 50:
            click.echo(f"mirrorkit: ... and {len(report.errors) - 50} more failures "
                       "(see --json)", err=True)
        for key, value in report.sinks.items():
            click.echo(f"mirrorkit: sink {key}: {value}", err=True)
        for line in notes:
            click.echo(f"mirrorkit: {line}", err=True)
        click.echo(_summary(report), err=True)
        reports.append(report)
    if as_json:
        scrub = Redactor().data  # a ${VAR} value may be anywhere, the dest included
        if len(reports) == 1:
            click.echo(json.dumps(scrub(_report_json(reports[0])), separators=(",", ":")))
        else:
            status = "ok" if all(r.status == "ok" for r in reports) else "failed"
            click.echo(json.dumps({"status": status,
                                   "mirrors": [scrub(_report_json(r)) for r in reports]}))
    global _runs_done
    _runs_done = True
    sys.exit(EXIT_OK if all(r.status == "ok" for r in reports) else EXIT_FAILED)


def _report_json(report: RunReport) -> dict[str, Any]:
    """The report, with the registry's notes (``ctx.note``) also beside its own fields.

    A plugin's figures (apt's size estimate) read as top-level keys, as the tools operators
    already script against print them; a note never replaces a report field.
    """
    data = report.model_dump(mode="json")
    return {**{k: v for k, v in data["notes"].items() if k not in data}, **data}


# set once ``run`` has finished: main() may then skip the interpreter's teardown
_runs_done = False


def _exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, once everything that matters has happened.

    After a run, tearing the interpreter down (every module, every object of the plan, one
    by one) took 0.1 s for 5,000 files: 2.5% of that whole run. Exit handlers, log handlers
    and the standard streams are flushed first, so nothing a user or plugin sees is lost.
    Only the console entry point does this, and only when no profiler, debugger or
    non-daemon thread would expect the normal exit; ``cli`` called from Python exits
    normally.
    """
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = 120  # what the interpreter exits with when it cannot flush stdout
    os._exit(code)


_COMMON = ("dest", "name", "as_json", "dry_run")


def _registry_command(name: str, *, dry_run: bool) -> click.Command:
    host = _host_or_exit()
    reg = host.registries.get(name)
    options_model = reg.cls.Options

    def callback(**params: Any) -> None:
        values = collect_values(options_model, params, prefix="opt_")
        settings = collect_values(EngineSettings, params, prefix="set_")
        raw: dict[str, Any] = {"registry": name, "name": params["name"] or name,
                               "settings": settings, **values}
        if params["dest"]:
            raw["dest"] = params["dest"]
        try:
            mirror = build_mirror(raw, host, where="")
        except ConfigError as exc:
            flags = flag_names(options_model, EngineSettings)
            for line in exc.problems:
                click.echo(f"mirrorkit: error: {_flagify(line, flags)}", err=True)
            sys.exit(EXIT_USAGE)
        execute([mirror], dry_run=dry_run or params.get("dry_run", False),
                as_json=params["as_json"])

    params: list[click.Parameter] = [
        click.Option(["--dest", "dest"], type=click.Path(file_okay=False), default=None,
                     help="Mirror directory. [default: ./mirror]"),
        click.Option(["--name", "name"], default=None,
                     help="Mirror name in reports and bundles. [default: the registry name]"),
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print the run report as one JSON object on stdout."),
    ]
    if not dry_run:
        params.append(click.Option(["--dry-run", "dry_run"], is_flag=True,
                                   help="Only say what would be downloaded and removed."))
    params += options_for_model(options_model, prefix="opt_")
    params += options_for_model(EngineSettings, prefix="set_")
    doc = inspect.cleandoc(reg.cls.__doc__ or reg.cls.summary)
    return click.Command(name, callback=callback, params=params,
                         help=f"{reg.cls.summary}\n\n{doc if doc != reg.cls.summary else ''}",
                         short_help=reg.cls.summary)


def _flagify(line: str, flags: dict[str, str]) -> str:
    """Turn a model key path into the flag that sets it, for command-line errors."""
    key, sep, rest = line.partition(": ")
    if not sep:
        return line
    parts = [p for p in key.replace("[", ".[").split(".") if p and not p.startswith("[")]
    if parts and parts[0] == "settings":
        parts = parts[1:]
    if not parts:
        return rest
    return f"{flags.get(parts[0], '--' + parts[0].replace('_', '-'))}: {rest}"


class RegistryGroup(click.Group):
    """``run`` and ``plan``: one subcommand per installed registry, plus ``--config``."""

    def __init__(self, *args: Any, dry_run: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dry_run = dry_run

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [r.name for r in _host_or_exit().registries]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _host_or_exit().registries:
            return None
        return _registry_command(cmd_name, dry_run=self.dry_run)


def _config_callback(dry_run: bool) -> Any:
    @click.pass_context
    def callback(ctx: click.Context, config: Path | None, only: tuple[str, ...],
                 as_json: bool, dry: bool = False) -> None:
        if ctx.invoked_subcommand is not None:
            if config is not None:
                fail("give either --config or a registry, not both")
            return
        if config is None:
            click.echo(ctx.get_help(), err=True)
            sys.exit(EXIT_USAGE)
        host = _host_or_exit()
        try:
            mirrors = load_config(config, host)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(f"mirrorkit: error: {line}", err=True)
            sys.exit(EXIT_USAGE)
        if only:
            unknown = set(only) - {m.name for m in mirrors}
            if unknown:
                fail(f"--only: no mirror named {', '.join(sorted(unknown))} in {config}")
            mirrors = [m for m in mirrors if m.name in only]
        execute(mirrors, dry_run=dry_run or dry, as_json=as_json)

    return callback


def _registry_group(name: str, dry_run: bool, help_text: str) -> click.Group:
    params: list[click.Parameter] = [
        click.Option(["--config", "config"], type=click.Path(dir_okay=False, path_type=Path),
                     help="Run every mirror of this TOML file (see examples/mirrors.toml)."),
        click.Option(["--only", "only"], multiple=True, metavar="NAME",
                     help="With --config: run only this mirror. Repeatable."),
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print the run report as one JSON object on stdout."),
    ]
    if not dry_run:
        params.append(click.Option(["--dry-run", "dry"], is_flag=True,
                                   help="Only say what would be downloaded and removed."))
    return RegistryGroup(name, dry_run=dry_run, params=params, help=help_text,
                         callback=_config_callback(dry_run), invoke_without_command=True,
                         subcommand_metavar="REGISTRY [OPTIONS]")


# ---------------------------------------------------------------------------- main group
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mirrorkit")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Logs on stderr as text lines or JSON objects.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="warning", show_default=True, help="Least severe log level shown.")
def cli(log_format: str, log_level: str) -> None:
    """Mirror software registries for networks that cannot reach the internet.

    \b
    mirrorkit run homebrew --formula hello --tag arm64_sequoia --dest ./mirror
    mirrorkit run --config mirrors.toml
    mirrorkit verify ./mirror
    """
    setup_logging(log_format, log_level)


cli.add_command(_registry_group(
    "run", False,
    "Mirror a registry into a local directory: mirrorkit run REGISTRY --help lists its "
    "options; --config runs every mirror of a TOML file.",
))
cli.add_command(_registry_group(
    "plan", True,
    "Say what a run would download and remove (counts and bytes) without writing anything.",
))


@cli.command("verify")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--quick", is_flag=True, help="Check presence and size only, do not re-hash.")
@click.option("--repair", is_flag=True,
              help="Forget missing and corrupt files (deleting the corrupt ones) so that the "
                   "next run fetches them again.")
@click.option("--lock-wait", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds to wait for a run changing the mirror before confirming what "
                   "was found against the snapshot it commits.")
def verify_cmd(target: str, as_json: bool, quick: bool, repair: bool, lock_wait: float) -> None:
    """Re-hash every file of a mirror against its manifest; exit 1 naming each bad file.

    TARGET is a mirror directory, or a published copy a plugin understands (s3://...).
    """
    host = _host_or_exit()
    result: VerifyResult | None
    if "://" in target:
        result = host.pm.hook.mirrorkit_verify_target(target=target, rehash=not quick)
        if result is None:
            fail(f"no plugin can verify {target!r}")
    else:
        dest = Path(target)
        if not dest.is_dir():
            fail(f"{target}: not a directory")
        result = verify_tree(dest, rehash=not quick, settle=lock_wait)
        if repair and not result.ok and result.snapshot is not None:
            try:
                with MirrorLock(dest, "mirrorkit verify --repair", role="verify"):
                    # again, now that nothing runs
                    result = verify_tree(dest, rehash=not quick, settle=None)
                    forgotten = forget_bad_files(dest, result)
            except MirrorLocked as exc:
                fail(str(exc), EXIT_FAILED)
            click.echo(f"mirrorkit: repair: {forgotten} files will be fetched again by the "
                       "next run", err=True)
        if not result.problems:
            from .core.manifest import load_manifest

            manifest = load_manifest(dest)
            if manifest is not None:
                result.problems.extend(host.verify_mirror(dest, manifest))
    assert result is not None
    if as_json:
        click.echo(json.dumps({**result.model_dump(mode="json"), "ok": result.ok}))
    for line in result.lines():
        click.echo(f"mirrorkit: {line}", err=True)
    click.echo(f"{result.target}: {'ok' if result.ok else 'FAILED'}: {result.checked} files, "
               f"{result.bytes / 1e6:.1f} MB checked"
               + (f", snapshot {result.snapshot}" if result.snapshot else ""), err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def plugins_cmd(as_json: bool) -> None:
    """List every registry, sink and notifier found, and the distribution it comes from."""
    host = _host_or_exit()
    rows = [("registry", r.name, r.distribution, r.cls.summary) for r in host.registries]
    rows += [("sink", s.name, s.distribution, s.cls.summary) for s in host.sinks]
    rows += [("notifier", n.name, n.distribution, n.cls.summary) for n in host.notifiers]
    if as_json:
        click.echo(json.dumps([dict(zip(("kind", "name", "distribution", "summary"), row,
                                        strict=True)) for row in rows]))
        return
    width = max((len(r[1]) for r in rows), default=4)
    dist_width = max((len(r[2]) for r in rows), default=4)
    for kind, name, dist, summary in rows:
        click.echo(f"{kind:<8}  {name:<{width}}  {dist:<{dist_width}}  {summary}")


def _add_plugin_commands() -> None:
    try:
        host = plugin_host()
    except PluginError:
        return  # reported when a command needs the plugins
    host.pm.hook.mirrorkit_add_commands(cli=cli)


def main() -> None:
    _add_plugin_commands()
    try:
        cli(prog_name="mirrorkit")
    except SystemExit as exc:
        # not under a profiler or debugger: they report at the interpreter's exit
        if (_runs_done and isinstance(exc.code, int | None) and sys.getprofile() is None
                and sys.gettrace() is None
                and all(t.daemon for t in threading.enumerate()
                        if t is not threading.main_thread())):
            _exit_now(exc.code or 0)
        raise
    except ValidationError as exc:  # a plugin's model rejected a value late
        fail(str(exc).splitlines()[0])
