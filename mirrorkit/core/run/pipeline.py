"""A whole mirror run as a library call: plan, fetch, commit, sinks, notifiers, metrics, hook.

The command line only parses arguments and prints what this returns, so a program (or a
plugin's tests) runs a mirror exactly as ``mirrorkit run`` does::

    report = await run_mirror(mirror)          # in an event loop
    report = run_mirror_sync(mirror)           # from plain code

Everything of one run happens on one event loop. Errors that stop a run before it starts
are exceptions (:class:`DestinationError`, :class:`~mirrorkit.core.store.lock.MirrorLocked`,
:class:`~mirrorkit.core.store.manifest.ManifestError`); everything that goes wrong during a run is
in the returned report.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..config.model import MirrorConfig, build_mirror
from ..plugin.host import PluginHost, load_plugins
from ..plugin.sink import SinkContext, SinkError
from .collector import fewer_full_collections
from .report import ArtifactError, RunReport

if TYPE_CHECKING:
    from .engine import RunObserver

__all__ = [
    "DestinationError",
    "check_destination",
    "mirror_from_options",
    "run_mirror",
    "run_mirror_sync",
    "run_mirrors",
]

log = logging.getLogger("mirrorkit.pipeline")


class DestinationError(Exception):
    """The mirror directory cannot be used (not a directory, not creatable, not writable)."""


def check_destination(dest: Path, *, create: bool) -> None:
    """Refuse an unusable mirror directory with one line, before any network access.

    A real run creates it; a dry run only checks that it could (the nearest existing
    ancestor is a writable directory), so ``mirrorkit plan`` writes nothing.
    """
    if dest.exists() and not dest.is_dir():
        raise DestinationError(f"{dest}: not a directory")
    if create:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(f"{dest}: cannot create the mirror directory "
                                   f"({exc.strerror or exc})") from None
        if not os.access(dest, os.W_OK | os.X_OK):
            raise DestinationError(f"{dest}: not writable")
        return
    ancestor = dest.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DestinationError(f"{dest}: {ancestor} is not a directory")
    try:  # the only sure test that a run could create it (/sys, /proc, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".mirrorkit-probe-", dir=ancestor))
    except OSError as exc:
        raise DestinationError(f"{dest}: cannot create the mirror directory in {ancestor} "
                               f"({exc.strerror or exc})") from None


async def _run_sinks(host: PluginHost, mirror: MirrorConfig, report: RunReport) -> None:
    from ..store.manifest import load_manifest

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
            report.errors.append(ArtifactError(path=f"<sink {sink.type}>", error=str(exc)))


async def _notify_and_record(host: PluginHost, mirror: MirrorConfig,
                             report: RunReport) -> None:
    """Notifications and the metrics file; what happened goes to ``report.notices``."""
    if mirror.notify:
        from ..plugin.notifications import send_notifications

        report.notices += await send_notifications(host, mirror, report)
    if mirror.settings.metrics_file is not None:
        from ...metrics import MetricsError, write_run_metrics

        try:
            write_run_metrics(mirror.settings.metrics_file, report)
        except MetricsError as exc:
            report.notices.append(f"error: {exc}")


async def run_mirror(
    mirror: MirrorConfig,
    *,
    host: PluginHost | None = None,
    dry_run: bool = False,
    observer: RunObserver | None = None,
    command: str = "mirrorkit run",
) -> RunReport:
    """Run one mirror to the end: the run, then (if it succeeded) its sinks, then its
    notifications and metrics, then ``mirrorkit_run_finished``; returns the final report.

    A dry run (``mirrorkit plan``) writes nothing: no sinks, notifications or metrics.
    """
    from .engine import MirrorRun  # the HTTP stack: only once something runs

    host = host or load_plugins()
    if mirror.dest_url is None:  # an s3:// dest has no local tree to create or check
        check_destination(Path(mirror.dest), create=not dry_run)
    run = MirrorRun(host, mirror, dry_run=dry_run, observer=observer, command=command)
    with fewer_full_collections():  # the plan stays alive to the end: walk it less often
        report = await run.run()
        report.changes = run.planned_changes()
    if report.status == "ok" and mirror.sinks and not dry_run:
        await _run_sinks(host, mirror, report)
    if not dry_run:
        await _notify_and_record(host, mirror, report)
    host.run_finished(report)
    return report


async def run_mirrors(
    mirrors: Sequence[MirrorConfig],
    *,
    host: PluginHost | None = None,
    dry_run: bool = False,
    observer: Callable[[MirrorConfig], AbstractContextManager[RunObserver | None]] | None = None,
    on_report: Callable[[RunReport], None] | None = None,
    command: str = "mirrorkit run",
) -> list[RunReport]:
    """Run several mirrors one after the other on the current event loop."""
    host = host or load_plugins()
    reports: list[RunReport] = []
    for mirror in mirrors:
        with (observer(mirror) if observer is not None else nullcontext(None)) as obs:
            report = await run_mirror(mirror, host=host, dry_run=dry_run, observer=obs,
                                      command=command)
        if on_report is not None:
            on_report(report)
        reports.append(report)
    return reports


def run_mirror_sync(mirror: MirrorConfig, **kwargs: Any) -> RunReport:
    """:func:`run_mirror` from code that has no event loop running."""
    async def main() -> RunReport:
        return await run_mirror(mirror, **kwargs)

    return anyio.run(main)


def mirror_from_options(registry: str, *, host: PluginHost, dest: Path | str = "./mirror",
                        name: str | None = None, settings: dict[str, Any] | None = None,
                        **options: Any) -> MirrorConfig:
    """A validated mirror from keyword arguments: the keys of a ``[[mirrors]]`` TOML entry."""
    raw: dict[str, Any] = {"registry": registry, "name": name or registry, "dest": str(dest),
                           "settings": settings or {}, **options}
    return build_mirror(raw, host, where="")
