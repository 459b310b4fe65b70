"""The ``mirrorkit`` command line: it parses arguments and prints; the pipeline does the work.

Registry commands (``mirrorkit run homebrew``, ``mirrorkit plan git``) are generated from the
loaded plugins' options models, so a third-party registry gets its flags and ``--help`` for
free; plugins may also add whole commands through the ``mirrorkit_add_commands`` hook.

Every user error is one line on stderr and one exit code of :data:`EXIT_CODES`.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .core.config.cliopts import collect_values, flag_names, options_for_model
from .core.config.model import ConfigError, EngineSettings, MirrorConfig, build_mirror, load_config
from .core.config.sizes import format_size
from .core.logs import setup_logging
from .core.plugin.host import PluginError, PluginHost, load_plugins

if TYPE_CHECKING:
    from .core.run.engine import RunObserver
    from .core.run.report import ArtifactError, RunReport
    from .core.store.verify import VerifyResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: The one table of exit codes (also in README.md; tests/cli/test_exit_codes.py checks it).
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_FAILED: "the run (or check) had failures",
    EXIT_USAGE: "usage or configuration error, or an unusable path",
    EXIT_LOCKED: "the mirror is in use by another run (lock held)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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


# ------------------------------------------------------------------------ global options
class _LogState:
    """``--log-level``/``--log-format``/``-v``/``-q``, wherever they appear on the line."""

    level: str | None = None
    fmt = "text"
    verbosity = 0

    def setup(self) -> tuple[str, str]:
        """The log format and level in force."""
        levels = ["error", "warning", "info", "debug"]
        return self.fmt, self.level or levels[max(0, min(3, 1 + self.verbosity))]

    def apply(self) -> None:
        setup_logging(*self.setup())


_LOG = _LogState()


def _set_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _LOG.level = value
        _LOG.apply()


def _set_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _LOG.fmt = value
        _LOG.apply()


def _more(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        _LOG.verbosity += value if param.name == "verbose" else -value
        _LOG.apply()


def global_options() -> list[click.Parameter]:
    """The logging options every command accepts, before or after its arguments."""
    return [
        click.Option(["--log-format"], type=click.Choice(["text", "json"]), default=None,
                     expose_value=False, callback=_set_format,
                     help="Logs on stderr as text lines or JSON objects. [default: text]"),
        click.Option(["--log-level"], type=click.Choice(["debug", "info", "warning", "error"]),
                     default=None, expose_value=False, callback=_set_level,
                     help="Least severe log level shown. [default: warning]"),
        click.Option(["-v", "verbose"], count=True, expose_value=False, callback=_more,
                     help="More log lines (-v info, -vv debug)."),
        click.Option(["-q", "quiet"], count=True, expose_value=False, callback=_more,
                     help="Errors only."),
    ]


def _with_global_options(cmd: click.Command) -> click.Command:
    names = {p.name for p in cmd.params}
    if "log_level" not in names:
        cmd.params.extend(global_options())
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _with_global_options(sub)
    return cmd


class MirrorkitGroup(click.Group):
    """Command summaries in full (click cuts them at 45 characters with "...")."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# --------------------------------------------------------------------------- running
def _summary(report: RunReport) -> str:
    if report.dry_run:
        fetch = [c for c in report.changes if c.reason != "removed"]
        unknown = sum(1 for c in fetch if c.size is None)
        moved = (f"would fetch {len(fetch)} ({format_size(sum(c.size or 0 for c in fetch))}"
                 + (f", {unknown} of unknown size" if unknown else "")
                 + f"), keep {report.files - len(fetch) - report.failed}, "
                 f"remove {report.removed}")
    elif report.kept_plan:
        moved = f"nothing changed upstream (the previous plan stands), kept {report.skipped}"
    else:
        moved = (f"downloaded {report.downloaded}"
                 + (f", copied {report.copied}" if report.copied else "")
                 + f" ({format_size(report.bytes_downloaded)}), kept {report.skipped}, "
                 f"removed {report.removed}")
    return (f"{report.mirror}: {report.status}: {report.files} files, {moved}, "
            f"failed {report.failed} in {report.duration_s:.1f}s"
            + (f"; snapshot {report.snapshot}" if report.snapshot else ""))


PLAN_ROWS = 50


def _plan_table(report: RunReport) -> list[str]:
    """The files a run changes, largest first, with totals per reason."""
    rows = sorted(report.changes, key=lambda c: (-(c.size or 0), c.path))
    lines = [f"{'REASON':<8} {'SIZE':>10}  PATH"]
    lines += [f"{c.reason:<8} {format_size(c.size):>10}  {c.path}" for c in rows[:PLAN_ROWS]]
    if len(rows) > PLAN_ROWS:
        lines.append(f"... and {len(rows) - PLAN_ROWS} more files (every one with --json)")
    totals = []
    for reason in ("new", "changed", "removed"):
        of = [c for c in rows if c.reason == reason]
        unknown = sum(1 for c in of if c.size is None)
        totals.append(f"{len(of)} {reason} ({format_size(sum(c.size or 0 for c in of))}"
                      + (f", {unknown} of unknown size" if unknown else "") + ")")
    lines.append("total: " + ", ".join(totals))
    return lines


FAILURE_LINES = 50
#: more files than this failing for the same reason are said in one line
GROUP_OVER = 3


def _failure_lines(errors: list[ArtifactError]) -> list[str]:
    """One line per reason shared by many files (a server down, a 404 for a whole
    directory), largest first, then one per other failed file, at most FAILURE_LINES:
    2,400 lines of one refused connection hid what happened."""
    by_reason: dict[str, list[ArtifactError]] = {}
    for err in errors:
        by_reason.setdefault(err.error, []).append(err)
    shown: list[tuple[str, int]] = []  # (line, files it stands for)
    for errs in sorted(by_reason.values(), key=len, reverse=True):
        if len(errs) > GROUP_OVER:
            where = f" from {errs[0].url}" if errs[0].url else ""
            shown.append((f"mirrorkit: failed: {len(errs)} files: {errs[0].error} (the "
                          f"first: {errs[0].path}{where}; every one with --json)", len(errs)))
    for err in errors:
        if len(by_reason[err.error]) <= GROUP_OVER:
            where = f" ({err.url})" if err.url else ""
            shown.append((f"mirrorkit: failed: {err.path}: {err.error}{where}", 1))
    lines = [line for line, _ in shown[:FAILURE_LINES]]
    hidden = sum(files for _, files in shown[FAILURE_LINES:])
    if hidden:
        lines.append(f"mirrorkit: ... and {hidden} more failed files (every one with --json)")
    return lines


def _print_report(report: RunReport, *, as_json: bool) -> None:
    from .core.redact import redact

    for line in _failure_lines(report.errors):
        click.echo(redact(line), err=True)
    for key, value in report.sinks.items():
        click.echo(f"mirrorkit: sink {key}: {value}", err=True)
    for line in report.notices:
        click.echo(f"mirrorkit: {line}", err=True)
    if report.dry_run and not as_json:
        for line in _plan_table(report):
            click.echo(line)
    click.echo(_summary(report), err=True)


def _progress(mirror: MirrorConfig, dry_run: bool) -> AbstractContextManager[Any]:
    """Progress bars when stderr is a terminal; otherwise nothing, not even rich's import."""
    if not (sys.stderr.isatty() or os.environ.get("FORCE_TERMINAL")):
        return nullcontext(None)
    from .core.run.progress import RichObserver

    return RichObserver(f"{'planning' if dry_run else 'mirroring'} {mirror.name}")


def execute(mirrors: list[MirrorConfig], *, dry_run: bool, as_json: bool) -> NoReturn:
    """Run the mirrors on one event loop, print each report, exit with the table's code."""
    import anyio

    host = _host_or_exit()
    from .core.run.engine import MirrorRun  # noqa: F401  (before the freeze)
    from .core.run.pipeline import DestinationError, run_mirrors
    from .core.store.lock import MirrorLocked
    from .core.store.manifest import ManifestError

    _freeze_imports()

    def progress(mirror: MirrorConfig) -> AbstractContextManager[RunObserver | None]:
        return _progress(mirror, dry_run)

    async def main() -> list[RunReport]:
        return await run_mirrors(mirrors, host=host, dry_run=dry_run, observer=progress,
                                 on_report=lambda r: _print_report(r, as_json=as_json),
                                 command=" ".join(sys.argv[:3]) or "mirrorkit")

    try:
        reports = anyio.run(main)
    except MirrorLocked as exc:
        fail(str(exc), EXIT_LOCKED)
    except DestinationError as exc:
        fail(f"--dest {exc}" if len(mirrors) == 1 else str(exc))
    except ManifestError as exc:  # the run cannot trust the mirror's record: it fails
        fail(str(exc), EXIT_FAILED)
    if as_json:
        from .core.redact import Redactor

        scrub = Redactor().data  # a ${VAR} value may be anywhere, the dest included
        if len(reports) == 1:
            click.echo(json.dumps(scrub(_report_json(reports[0])), separators=(",", ":")))
        else:
            status = "ok" if all(r.status == "ok" for r in reports) else "failed"
            click.echo(json.dumps({"status": status,
                                   "mirrors": [scrub(_report_json(r)) for r in reports]}))
    sys.exit(EXIT_OK if all(r.status == "ok" for r in reports) else EXIT_FAILED)


def _report_json(report: RunReport) -> dict[str, Any]:
    """The report, with the registry's notes (``ctx.note``) also beside its own fields.

    A plugin's figures (apt's size estimate) read as top-level keys, as the tools operators
    already script against print them; a note never replaces a report field.
    """
    data = report.model_dump(mode="json")
    return {**{k: v for k, v in data["notes"].items() if k not in data}, **data}


def _group_flags(ctx: click.Context) -> dict[str, Any]:
    """``run``/``plan``'s own options, which also count when given before the registry."""
    parent = ctx.parent
    return dict(parent.params) if parent is not None else {}


def _registry_command(name: str, *, dry_run: bool) -> click.Command:
    host = _host_or_exit()
    reg = host.registries.get(name)
    options_model = reg.cls.Options

    @click.pass_context
    def callback(ctx: click.Context, /, **params: Any) -> None:
        group = _group_flags(ctx)
        if group.get("only") or params.get("only"):
            fail("--only picks mirrors of a --config file; with a registry there is one mirror")
        if params.get("config"):
            fail(f"--config names its mirrors and their registries itself: give it before the "
                 f"registry, without one (mirrorkit {ctx.parent.info_name if ctx.parent else 'run'}"
                 f" --config {params['config']})", EXIT_USAGE)
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
        execute([mirror], dry_run=dry_run or params.get("dry_run", False)
                or bool(group.get("dry")),
                as_json=params["as_json"] or bool(group.get("as_json")))

    params: list[click.Parameter] = [
        click.Option(["--dest", "dest"], type=click.Path(file_okay=False), default=None,
                     metavar="DIR", help="Mirror directory. [default: ./mirror]"),
        click.Option(["--name", "name"], default=None, metavar="NAME",
                     help="Mirror name in reports and bundles. [default: the registry name]"),
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print the run report as one JSON object on stdout."),
        click.Option(["--only", "only"], multiple=True, metavar="NAME", hidden=True),
        click.Option(["--config", "config"], default=None, metavar="FILE", hidden=True),
    ]
    if not dry_run:
        params.append(click.Option(["--dry-run", "dry_run"], is_flag=True,
                                   help="Only list what would be downloaded and removed."))
    params += options_for_model(options_model, prefix="opt_")
    params += options_for_model(EngineSettings, prefix="set_")
    params += global_options()
    summary = reg.cls.summary
    doc = inspect.cleandoc(reg.cls.__doc__ or "")
    body = doc if doc and doc.rstrip(".") != summary.rstrip(".") else ""
    if body.startswith(summary.rstrip(".")):
        body = body[len(summary.rstrip(".")):].lstrip(".").strip()
    return click.Command(name, callback=callback, params=params, context_settings=CONTEXT,
                         help=summary + (f"\n\n{body}" if body else ""),
                         short_help=summary)


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
    flag = flags.get(parts[0], "--" + parts[0].replace("_", "-"))
    return f"{flag}: {_flag_hint(rest, flags)}"


def _flag_hint(message: str, flags: dict[str, str]) -> str:
    """"did you mean 'tags'?" in flag terms: "did you mean --tag?"."""
    for key, flag in flags.items():
        message = message.replace(f"did you mean {key!r}?", f"did you mean {flag}?")
    return message


class RegistryGroup(MirrorkitGroup):
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

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = ", ".join(self.list_commands(ctx)) or "none installed"
            fail(f"unknown registry {name!r} (known: {known}; `mirrorkit plugins` lists "
                 "them with their distributions)")
        return super().resolve_command(ctx, args)


def _config_callback(dry_run: bool) -> Callable[..., None]:
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
                fail(f"--only: no mirror named {', '.join(sorted(unknown))} in {config} "
                     f"(mirrors: {', '.join(m.name for m in mirrors)})")
            mirrors = [m for m in mirrors if m.name in only]
        execute(mirrors, dry_run=dry_run or dry, as_json=as_json)

    return callback


def _registry_group(name: str, dry_run: bool, help_text: str, short: str) -> click.Group:
    params: list[click.Parameter] = [
        click.Option(["--config", "config"], type=click.Path(dir_okay=False, path_type=Path),
                     metavar="FILE",
                     help="Run every mirror of this TOML file (see examples/mirrors.toml)."),
        click.Option(["--only", "only"], multiple=True, metavar="NAME",
                     help="With --config: run only this mirror. Repeatable."),
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print the run report as one JSON object on stdout."),
    ]
    if not dry_run:
        params.append(click.Option(["--dry-run", "dry"], is_flag=True,
                                   help="Only list what would be downloaded and removed."))
    params += global_options()
    return RegistryGroup(name, dry_run=dry_run, params=params, help=help_text,
                         short_help=short, callback=_config_callback(dry_run),
                         invoke_without_command=True, context_settings=CONTEXT,
                         subcommand_metavar="REGISTRY [OPTIONS]")


# ---------------------------------------------------------------------------- main group
def _version() -> str:
    from . import __version__

    return __version__


@click.group(cls=MirrorkitGroup, context_settings=CONTEXT)
@click.version_option(version=_version(), prog_name="mirrorkit")
def cli() -> None:
    """Mirror software registries for networks that cannot reach the internet.

    \b
    mirrorkit run homebrew --formula hello --tag arm64_sequoia --dest ./mirror
    mirrorkit run --config mirrors.toml
    mirrorkit verify ./mirror
    """


cli.params.extend(global_options())
cli.add_command(_registry_group(
    "run", False,
    "Mirror a registry into a local directory: mirrorkit run REGISTRY --help lists its "
    "options; --config runs every mirror of a TOML file.",
    "Mirror a registry into a directory (or every mirror of a --config file).",
))
cli.add_command(_registry_group(
    "plan", True,
    "List the files a run would download and remove (largest first, with totals; every "
    "file with --json) without writing anything.",
    "List what a run would download and remove, writing nothing.",
))


def _verify_line(result: VerifyResult) -> str:
    bad = len(result.missing) + len(result.corrupt)
    state = "ok" if result.ok else "FAILED"
    detail = (f"{len(result.missing)} missing, {len(result.corrupt)} corrupt, "
              f"{len(result.unexpected)} unexpected, " if not result.ok else "")
    return (f"{result.target}: {state}: {result.checked} files checked, {detail}"
            f"{result.checked - bad} verified ({format_size(result.bytes)})"
            + (f", snapshot {result.snapshot}" if result.snapshot else ""))


@cli.command("verify", short_help="Re-hash every file of a mirror against its manifest.")
@click.argument("target", metavar="MIRROR")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--quick", is_flag=True, help="Check presence and size only, do not re-hash.")
@click.option("--repair", is_flag=True,
              help="Forget missing and corrupt files (deleting the corrupt ones) so that the "
                   "next run fetches them again.")
@click.option("--lock-wait", type=click.FloatRange(min=0), default=600.0, show_default=True,
              metavar="SECONDS",
              help="Seconds to wait for a run changing the mirror before confirming what "
                   "was found against the snapshot it commits.")
def verify_cmd(target: str, as_json: bool, quick: bool, repair: bool, lock_wait: float) -> None:
    """Re-hash every file of a mirror against its manifest; exit 1 naming each bad file.

    MIRROR is a mirror directory, or a published copy a plugin understands (s3://...).
    """
    from .core.store.lock import MirrorLock, MirrorLocked
    from .core.store.verify import forget_bad_files, verify_tree

    host = _host_or_exit()
    result: VerifyResult | None
    if "://" in target:
        result = host.pm.hook.mirrorkit_verify_target(target=target, rehash=not quick)
        if result is None:
            fail(f"no plugin can verify {target!r}")
    else:
        dest = Path(target)
        if not dest.is_dir():
            fail(f"{target}: not a directory" if dest.exists() else f"{target}: no such directory")
        result = verify_tree(dest, rehash=not quick, settle=lock_wait)
        if repair and not result.ok and result.snapshot is not None:
            try:
                with MirrorLock(dest, "mirrorkit verify --repair", role="verify"):
                    # again, now that nothing runs
                    result = verify_tree(dest, rehash=not quick, settle=None)
                    forgotten = forget_bad_files(dest, result)
            except MirrorLocked as exc:
                fail(str(exc), EXIT_LOCKED)
            click.echo(f"mirrorkit: repair: {forgotten} files will be fetched again by the "
                       "next run", err=True)
        if not result.problems:
            from .core.store.manifest import load_manifest

            manifest = load_manifest(dest)
            if manifest is not None:
                result.problems.extend(host.verify_mirror(dest, manifest))
    assert result is not None
    if as_json:
        click.echo(json.dumps({**result.model_dump(mode="json"), "ok": result.ok}))
    for line in result.lines():
        click.echo(f"mirrorkit: {line}", err=True)
    click.echo(_verify_line(result), err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


@cli.command("plugins", short_help="List every registry, sink and notifier installed.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def plugins_cmd(as_json: bool) -> None:
    """List every registry, sink and notifier found, and the distribution it comes from.

    MIRRORKIT_DISABLE_PLUGINS=NAME,NAME skips the named entry points (a broken plugin).
    """
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


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Usage errors as one ``mirrorkit: error:`` line (click prints usage and a hint)."""
    try:
        yield
    except click.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        message = " ".join(exc.format_message().split())
        fail(f"{message}{where}", exc.exit_code)
    except click.ClickException as exc:
        fail(" ".join(exc.format_message().split()), exc.exit_code)


def _freeze_imports() -> None:
    """Move everything imported so far out of the cyclic garbage collector's sight.

    Modules, classes and schemas live until the process ends, yet every collection during a
    run scanned them again, and the interpreter's final collection at exit once more (about
    a fifth of a no-op run's CPU). Frozen, they are still freed normally; only the scans go.
    Only in the ``mirrorkit`` process itself (``main``), not when ``cli`` runs in a host
    program's process, whose own objects the freeze would also take out of collection.

    The youngest generation is also collected every ``YOUNG_GC_THRESHOLD`` allocations
    (:mod:`.core.collector`)
    instead of every 700: a run allocates a few hundred short-lived objects per request, and
    a first mirror of one Homebrew tag (1,800 requests) ran 260 collections, 0.1 to 0.17 s of
    CPU, against 14 and 0.04 s with this threshold. Cycles are still freed, a little later.
    """
    if _STANDALONE:
        from .core.run.collector import collect_young_less_often

        collect_young_less_often()


_STANDALONE = False


def main() -> None:
    from pydantic import ValidationError

    global _STANDALONE
    _STANDALONE = True
    _LOG.apply()
    _add_plugin_commands()
    _with_global_options(cli)
    try:
        with _one_line_errors():
            code = cli.main(prog_name="mirrorkit", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("mirrorkit: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ValidationError as exc:  # a plugin's model rejected a value late
        fail(str(exc).splitlines()[0])
    sys.exit(code if isinstance(code, int) else EXIT_OK)
