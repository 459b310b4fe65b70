"""A distribution's ``Requires-Dist``: from its PEP 658 ``.metadata`` file, else from itself.

A wheel always carries its ``METADATA``; an sdist's ``PKG-INFO`` is only trusted from
metadata 2.2 on, when ``Requires-Dist`` is not declared ``Dynamic`` (older sdists compute
their dependencies at build time, which a mirror cannot do).
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

__all__ = ["MetadataError", "requires_from_file", "requires_from_metadata"]

MAX_METADATA = 16 * 1024 * 1024


class MetadataError(ValueError):
    """A distribution's metadata cannot be read."""


def requires_from_metadata(raw: bytes) -> list[str]:
    msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
    return [str(v).strip() for v in (msg.get_all("Requires-Dist") or [])]


def _trusted_sdist(raw: bytes) -> list[str] | None:
    msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
    version = str(msg.get("Metadata-Version") or "0").strip()
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return None
    dynamic = {str(v).strip().lower() for v in (msg.get_all("Dynamic") or [])}
    if (major, minor) < (2, 2) or "requires-dist" in dynamic:
        return None
    return [str(v).strip() for v in (msg.get_all("Requires-Dist") or [])]


def requires_from_file(path: Path | bytes, filename: str) -> list[str] | None:
    """``Requires-Dist`` of a wheel or sdist (on disk, or its bytes); None when an sdist
    does not say."""
    source: Path | io.BytesIO = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(source) as zf:
                names = [n for n in zf.namelist()
                         if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
                if len(names) != 1:
                    raise MetadataError(f"{filename}: no single .dist-info/METADATA")
                return requires_from_metadata(_read_zip(zf, names[0]))
        if filename.endswith(".zip"):
            with zipfile.ZipFile(source) as zf:
                names = [n for n in zf.namelist()
                         if n.count("/") == 1 and n.endswith("/PKG-INFO")]
                return _trusted_sdist(_read_zip(zf, names[0])) if names else None
        if filename.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
            with _open_tar(source) as tf:
                for member in tf:
                    if member.isfile() and member.name.count("/") == 1 \
                            and member.name.endswith("/PKG-INFO"):
                        fh = tf.extractfile(member)
                        if fh is None or member.size > MAX_METADATA:
                            return None
                        return _trusted_sdist(fh.read())
                return None
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise MetadataError(f"{filename}: cannot read its metadata ({exc})") from None
    return None


def _open_tar(source: Path | io.BytesIO) -> tarfile.TarFile:
    if isinstance(source, io.BytesIO):
        return tarfile.open(fileobj=source)
    return tarfile.open(source)


def _read_zip(zf: zipfile.ZipFile, name: str) -> bytes:
    if zf.getinfo(name).file_size > MAX_METADATA:
        raise MetadataError(f"{name}: metadata larger than {MAX_METADATA} bytes")
    return zf.read(name)
