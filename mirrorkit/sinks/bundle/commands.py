"""The ``export``, ``import`` and ``bundles`` commands (added through ``mirrorkit_add_commands``).

Messages go to stderr, one line each, ``mirrorkit: error: ...`` for problems; ``--json``
puts one JSON object on stdout. Exit codes follow the core's table (mirrorkit.cli.EXIT_CODES):
0 ok, 1 failed or refused, 2 usage error or unusable path, 3 mirror in use.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from pydantic import ValidationError

from mirrorkit.api import BundleError
from mirrorkit.api import parse_size as size_in_bytes

if TYPE_CHECKING:
    from mirrorkit.api import BundleCatalog, TocSummary

# The bundle machinery (tar streams, TOCs, S3 targets) is imported inside each command (the
# API loads it on first use): plugins are loaded by every mirrorkit command, and this module
# is only their declaration.

__all__ = ["add_commands", "parse_size"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
MIN_PART_SIZE = 1024


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"mirrorkit: error: {message}", err=True)
    sys.exit(code)


def parse_size(value: str | int) -> int:
    """``3.5GiB``, ``700MB``, ``1048576``: the one size syntax of every size option."""
    size = size_in_bytes(value)
    if size < MIN_PART_SIZE:
        raise ValueError(f"part size must be at least {MIN_PART_SIZE} bytes")
    return size


def _size_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except (ValidationError, ValueError) as exc:
        msg = str(exc).splitlines()[-1] if isinstance(exc, ValidationError) else str(exc)
        raise click.BadParameter(f"{value!r}: {msg.strip()}") from None


def _need_zstd() -> None:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        _fail("--zstd needs the zstandard package: pip install zstandard", EXIT_USAGE)


# ------------------------------------------------------------------------------ export
def _source_dir(path: Path) -> None:
    """A mirror or bundle directory that is read must exist: exit 2 otherwise."""
    if not path.is_dir():
        _fail(f"{path}: not a directory" if path.exists() else f"{path}: no such directory",
              EXIT_USAGE)


@click.command("export", short_help="Pack a mirror into numbered parts plus a TOC.")
@click.argument("dest", metavar="MIRROR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--to", "to", required=True, metavar="DIR|s3://BUCKET/PREFIX",
              help="Where the bundle goes: a directory or an S3 prefix.")
@click.option("--part-size", default="3.5GiB", show_default=True, callback=_size_option,
              metavar="SIZE",
              help="Largest part, e.g. 4.7GB (DVD), 700MiB, 3.5GiB.")
@click.option("--full", is_flag=True, help="Everything, not only the changes.")
@click.option("--since", metavar="SNAPSHOT",
              help="A delta from this snapshot. [default: the last one exported to --to]")
@click.option("--zstd", is_flag=True, help="Compress the tar stream with zstd.")
@click.option("--json", "as_json", is_flag=True, help="Print the TOC as JSON on stdout.")
def export_cmd(dest: Path, to: str, part_size: int, full: bool, since: str | None, zstd: bool,
               as_json: bool) -> None:
    """Pack the mirror MIRROR into a bundle of numbered parts plus a TOC, for the air gap.

    By default the bundle holds what changed since the snapshot last exported to the same
    place (a full bundle the first time). `cat NAME.tar.* | tar -x` extracts it without
    mirrorkit; `mirrorkit import` verifies and applies it.
    """
    from mirrorkit.api import export_bundle

    if full and since:
        _fail("give --full or --since, not both", EXIT_USAGE)
    if zstd:
        _need_zstd()
    _source_dir(dest)
    try:
        result = export_bundle(dest, to, part_size=part_size, full=full, since=since,
                               zstd=zstd)
    except BundleError as exc:
        _fail(str(exc), EXIT_LOCKED if exc.in_use else EXIT_FAILED)
    except OSError as exc:
        _fail(f"{exc.filename or to}: {exc.strerror or exc}")
    click.echo(f"mirrorkit: {result.summary()}", err=True)
    if as_json:
        click.echo(result.toc.model_dump_json() if result.toc else json.dumps(
            {"message": result.message}))


# ------------------------------------------------------------------------------ import
def _toc_size_option(ctx: click.Context, param: click.Parameter, value: str | None
                     ) -> int | None:
    if value is None:
        return None
    try:
        return size_in_bytes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_MAX_TOC_HELP = ("Largest TOC to read, e.g. 2GiB. [default: 64 MiB plus twice the bytes of "
                 "the bundle's parts (64 times for zstd)]")


def _catalog(src: str, max_toc: int | None = None) -> BundleCatalog:
    from mirrorkit.api import open_bundles

    if "://" not in src and not Path(src).exists():
        _fail(f"{src}: no such directory or file", EXIT_USAGE)
    try:
        return open_bundles(src, max_toc=max_toc)
    except BundleError as exc:
        _fail(str(exc))


def _check(catalog: BundleCatalog, as_json: bool) -> NoReturn:
    problems = list(catalog.problems)
    checked = []
    for toc in catalog.tocs:
        found = catalog.check(toc)
        problems += found
        checked.append({"name": toc.name, "ok": not found, "parts": len(toc.parts),
                        "size": toc.size, "problems": found})
        if not found:
            click.echo(f"mirrorkit: ok: {toc.name}: {len(toc.parts)} parts "
                       f"({toc.size / 1e6:.1f} MB) verified", err=True)
    if not catalog.tocs and not problems:
        problems.append(f"{catalog.where}: no bundles (no *.toc.json)")
    for line in problems:
        click.echo(f"mirrorkit: error: {line}", err=True)
    if as_json:
        click.echo(json.dumps({"ok": not problems, "bundles": checked, "problems": problems}))
    sys.exit(EXIT_FAILED if problems else EXIT_OK)


@click.command("import", short_help="Verify bundles and apply them to a mirror.")
@click.argument("src", metavar="SRC")
@click.option("--into", "dest", type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR",
              help="The mirror directory to apply the bundles to.")
@click.option("--check", is_flag=True, help="Only verify every part of SRC; change nothing.")
@click.option("--max-toc-size", "max_toc", callback=_toc_size_option, help=_MAX_TOC_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout.")
def import_cmd(src: str, dest: Path | None, check: bool, max_toc: int | None,
               as_json: bool) -> None:
    """Verify bundles and apply them to a mirror, all-or-nothing.

    SRC is a directory, an s3://bucket/prefix, or the path of one NAME.toc.json. Every
    part is checked (size and sha256) before DEST is touched; from a directory of bundles,
    the ones DEST needs are applied in order (deltas from its snapshot, or the newest full
    bundle for an empty mirror).
    """
    from mirrorkit.api import import_bundle, load_manifest, plan_import

    if check == (dest is not None):
        _fail("give either --into DEST or --check", EXIT_USAGE)
    catalog = _catalog(src, max_toc)
    if check:
        _check(catalog, as_json)
    assert dest is not None
    try:
        chain = plan_import(catalog, dest)
    except BundleError as exc:
        _refuse(exc.problems, dest, code=EXIT_LOCKED if exc.in_use else EXIT_FAILED)
    done: list[dict[str, Any]] = []
    if not chain:
        current = load_manifest(dest)
        click.echo(f"mirrorkit: {dest} is already at snapshot "
                   f"{current.snapshot if current else '?'}; nothing to import", err=True)
    for summary in chain:
        try:
            outcome = import_bundle(catalog, summary, dest)
        except BundleError as exc:
            _refuse(exc.problems, dest, done=bool(done),
                    code=EXIT_LOCKED if exc.in_use else EXIT_FAILED)
        except OSError as exc:
            _refuse([f"{exc.filename or dest}: {exc.strerror or exc}"], dest, done=bool(done))
        click.echo(f"mirrorkit: {outcome.summary(dest)}", err=True)
        done.append({"name": outcome.toc.name, "snapshot": outcome.toc.snapshot,
                     "files": outcome.files, "bytes": outcome.bytes,
                     "removed": outcome.removed})
    if as_json:
        click.echo(json.dumps({"ok": True, "imported": done}))


def _refuse(problems: list[str], dest: Path, *, done: bool = False,
            code: int = EXIT_FAILED) -> NoReturn:
    for line in problems:
        click.echo(f"mirrorkit: error: {line}", err=True)
    state = ("the bundles before it were applied" if done
             else f"{dest} is unchanged" if dest.exists() else f"{dest} was not created")
    click.echo(f"mirrorkit: import refused; {state}", err=True)
    sys.exit(code)


# ----------------------------------------------------------------------------- bundles
def _row(toc: TocSummary) -> dict[str, Any]:
    return {"name": toc.name, "mirror": toc.mirror, "kind": "delta" if toc.base else "full",
            "base": toc.base, "snapshot": toc.snapshot, "files": toc.file_count,
            "deleted": toc.deleted_count, "parts": len(toc.parts), "size": toc.size,
            "compression": toc.compression, "created": toc.created}


@click.command("bundles", short_help="List the bundles in a directory and their import order.")
@click.argument("src", metavar="DIR|s3://BUCKET/PREFIX")
@click.option("--for", "dest", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Give the import order for this mirror (default: for an empty one).")
@click.option("--max-toc-size", "max_toc", callback=_toc_size_option, help=_MAX_TOC_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout.")
def bundles_cmd(src: str, dest: Path | None, max_toc: int | None, as_json: bool) -> None:
    """List the bundles in SRC (from their TOCs only) and the order to import them."""
    from mirrorkit.api import ManifestError, load_manifest

    catalog = _catalog(src, max_toc)
    current = None
    if dest is not None:
        try:
            current = load_manifest(dest) if dest.is_dir() else None
        except ManifestError as exc:
            _fail(str(exc))
    mirrors = sorted({t.mirror for t in catalog.tocs})
    if current is not None and current.mirror:
        mirrors = [m for m in mirrors if m == current.mirror]
    orders = {m: [t.name for t in catalog.import_order(current.snapshot if current else None,
                                                       mirror=m)]
              for m in mirrors}
    if as_json:
        click.echo(json.dumps({"bundles": [_row(t) for t in catalog.tocs], "order": orders,
                               "problems": catalog.problems}))
    elif not catalog.tocs and not catalog.problems:
        click.echo(f"mirrorkit: error: {catalog.where}: no bundles "
                   "(no *.toc.json)", err=True)
        sys.exit(EXIT_FAILED)
    else:
        rows = [_row(t) for t in catalog.tocs]
        width = max((len(r["name"]) for r in rows), default=4)
        click.echo(f"{'NAME':<{width}}  KIND   BASE -> SNAPSHOT{'':<36}FILES  DELETED  "
                   "PARTS       SIZE")
        for r in rows:
            span = f"{r['base'] or '-'} -> {r['snapshot']}"
            click.echo(f"{r['name']:<{width}}  {r['kind']:<5}  {span:<52}{r['files']:>5}  "
                       f"{r['deleted']:>7}  {r['parts']:>5}  {r['size'] / 1e6:>8.1f}MB")
        who = f"{dest} (at {current.snapshot})" if current is not None else "an empty mirror"
        for mirror, order in orders.items():
            shown = ", then ".join(order) if order else "nothing to import"
            click.echo(f"import order for {mirror} into {who}: {shown}")
    for line in catalog.problems:
        click.echo(f"mirrorkit: error: {line}", err=True)
    sys.exit(EXIT_FAILED if catalog.problems else EXIT_OK)


def add_commands(cli: click.Group) -> None:
    for cmd in (export_cmd, import_cmd, bundles_cmd):
        cli.add_command(cmd)

