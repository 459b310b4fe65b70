"""Requirements files, as far as a mirror needs them: which projects, which versions.

pip's options that only matter to an install (``--hash``, ``--index-url``...) are skipped;
anything that names code outside an index (``-e``, URLs, paths) is refused with its line.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_requirements"]

_IGNORED_OPTIONS = ("-i", "--index-url", "--extra-index-url", "--no-index", "-f",
                    "--find-links", "--pre", "--prefer-binary", "--only-binary",
                    "--no-binary", "--trusted-host", "--use-feature")


def read_requirements(path: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The requirement strings of ``path`` and the files it includes (``-r``, ``-c`` skipped)."""
    from .reqspec import check_requirement

    where = str(path)
    real = path.resolve()
    if real in _seen:
        raise ValueError(f"{where}: includes itself")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not UTF-8 text") from None
    out: list[str] = []
    for lineno, line in _logical_lines(text):
        line = line.split(" #", 1)[0].strip() if not line.startswith("#") else ""
        if not line:
            continue
        head = line.split()[0]
        if head in ("-r", "--requirement") or head.startswith(("-r", "--requirement=")):
            target = line[len(head):].strip() if head in ("-r", "--requirement") else (
                head.split("=", 1)[1] if "=" in head else head[2:])
            out += read_requirements(path.parent / target, _seen | {real})
            continue
        if head in ("-c", "--constraint") or head.startswith("--constraint="):
            continue
        if head.startswith("-"):
            if head.split("=", 1)[0] in _IGNORED_OPTIONS:
                continue
            raise ValueError(f"{where}:{lineno}: option {head!r} is not supported in a mirror")
        spec = " ".join(tok for tok in line.split() if not tok.startswith("--hash"))
        try:
            out.append(check_requirement(spec))
        except ValueError as exc:
            raise ValueError(f"{where}:{lineno}: {exc}") from None
    return out


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line number."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        out.append((start, (buf + raw).strip()))
        buf = ""
    if buf:
        out.append((start, buf.strip()))
    return out
