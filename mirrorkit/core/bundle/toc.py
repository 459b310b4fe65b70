"""The table of contents of a bundle: what an operator (and ``import``) reads before any tar.

The TOC is the only thing trusted before the parts are verified, so it is parsed strictly:
unknown keys, wrong types and unsafe paths are refused with the key that was wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..plan.artifact import Kind
from ..plan.paths import UnsafePathError, validate_relpath
from .errors import BundleError

__all__ = [
    "FORMAT",
    "PART_NAME",
    "FileInfo",
    "PartInfo",
    "Toc",
    "TocError",
    "TocHeader",
    "bundle_name",
    "bundle_of",
    "part_name",
    "toc_name",
    "tree_digest",
]

FORMAT = "mirrorkit-bundle/1"
TOC_SUFFIX = ".toc.json"
#: a part's name: ``<bundle>.tar.NNNN`` or ``<bundle>.tar.zst.NNNN``
PART_NAME = re.compile(r"^(?P<bundle>.+)\.tar(?:\.zst)?\.\d{4,}$")
SHA256_HEX = r"^[0-9a-f]{64}$"
_SNAPSHOT = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")

Compression = Literal["none", "zstd"]
Sha256 = Annotated[str, Field(pattern=SHA256_HEX)]


class TocError(BundleError, ValueError):
    """The TOC is missing, unreadable or malformed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PartInfo(_Strict):
    name: str
    size: int = Field(ge=0)
    sha256: Sha256

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"part name {value[:100]!r} is not a plain file name")
        return value


class FileInfo(_Strict):
    path: str
    size: int = Field(ge=0)
    sha256: Sha256
    kind: Kind = Kind.BLOB
    digest: str | None = None  # "<alg>:<hex>" when upstream's own digest is not sha256
    order: int = Field(0, ge=-(2**31), le=2**31)  # index commit order, as in the manifest

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        try:
            normal = validate_relpath(value)
        except UnsafePathError as exc:
            raise ValueError(str(exc)) from None
        if normal != value:
            raise ValueError(f"path {value[:200]!r} is not in normal form ({normal!r})")
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_from_text(cls, value: object) -> object:
        # strict mode would refuse the plain JSON string; accept exactly the enum's values
        return Kind(value) if isinstance(value, str) and value in Kind._value2member_map_ else value


class TocHeader(_Strict):
    """Everything about one bundle but its file lists (what listing and checking need)."""

    format: Literal["mirrorkit-bundle/1"] = "mirrorkit-bundle/1"
    name: str
    mirror: str
    registry: str | None = None
    snapshot: str = Field(pattern=_SNAPSHOT)
    base: str | None = Field(None, pattern=_SNAPSHOT)
    created: str
    compression: Compression = "none"
    part_size: int = Field(gt=0)
    size: int = Field(ge=0, description="Bytes of all parts together.")
    parts: list[PartInfo]
    tree_files: int = Field(ge=0, description="Files of the whole snapshot after import.")
    tree_sha256: Sha256 = Field(description="tree_digest() of the whole snapshot.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"bundle name {value[:100]!r} is not a plain file name")
        return value

    @property
    def is_delta(self) -> bool:
        return self.base is not None

    @property
    def toc_name(self) -> str:
        return toc_name(self.name)

    def part_problems(self) -> list[str]:
        """The parts' names and sizes against the header (no part is read)."""
        out: list[str] = []
        names = [p.name for p in self.parts]
        expected = [part_name(self.name, i, self.compression) for i in range(len(names))]
        if names != expected:
            out.append(f"parts must be named {expected[:2]}..., got {names[:2]}...")
        if sum(p.size for p in self.parts) != self.size:
            out.append("size is not the sum of the part sizes")
        if any(p.size > self.part_size for p in self.parts):
            out.append("a part is larger than part_size")
        return out

    def tar_room_problem(self, files: int, file_bytes: int) -> str | None:
        """An uncompressed tar holds each file in a 512-byte header plus its data rounded up
        to 512 bytes: a TOC whose files cannot fit in its parts is refused before anything
        is read or written (a wrong size can then never fill the disk)."""
        if self.compression != "none":
            return None
        if files * 512 + file_bytes > self.size:
            return (f"its {files} files ({file_bytes} bytes) cannot fit in {self.size} bytes "
                    "of uncompressed tar parts")
        return None


class Toc(TocHeader):
    """Everything about one bundle; ``parts`` concatenated are one tar (or tar.zst) stream."""

    files: list[FileInfo]
    deleted: list[str] = Field(default_factory=list)

    @field_validator("deleted")
    @classmethod
    def _safe_deleted(cls, value: list[str]) -> list[str]:
        for path in value:
            try:
                validate_relpath(path)
            except UnsafePathError as exc:
                raise ValueError(str(exc)) from None
        return value

    def dumps(self) -> bytes:
        return (self.model_dump_json(indent=1) + "\n").encode()

    @classmethod
    def loads(cls, raw: bytes, *, where: str) -> Toc:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise TocError(f"{where}: not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TocError(f"{where}: not a mirrorkit bundle TOC (format {FORMAT})")
        try:
            toc = cls.model_validate_json(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) if str(p).isprintable() else repr(p) for p in err["loc"])
            more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
            raise TocError(f"{where}: {loc}: {err['msg']}{more}") from None
        problems = toc.consistency_problems()
        if problems:
            raise TocError(f"{where}: {problems[0]}")
        return toc

    def consistency_problems(self) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for f in self.files:
            if f.path in seen:
                out.append(f"file {f.path!r} is listed twice")
            seen.add(f.path)
        both = seen.intersection(self.deleted)
        if both:
            out.append(f"{sorted(both)[0]!r} is both a file and deleted")
        out += self.part_problems()
        room = self.tar_room_problem(len(self.files), sum(f.size for f in self.files))
        if room:
            out.append(room)
        return out


def tree_digest(files: Iterable[tuple[str, int, str]]) -> str:
    """One sha256 over every (path, size, sha256) of a snapshot, sorted by path.

    An import recomputes it over the tree it is about to commit, so a delta applied to a
    mirror whose files differ from the exporter's base is caught before anything changes.
    """
    h = hashlib.sha256()
    for path, size, sha in sorted(files):
        h.update(f"{path}\0{size}\0{sha}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def bundle_name(mirror: str, snapshot: str, *, delta: bool) -> str:
    """Names sort by mirror then snapshot, so ``ls`` shows the import order."""
    return f"{mirror}-{snapshot}-{'delta' if delta else 'full'}"


def toc_name(name: str) -> str:
    return name + TOC_SUFFIX


def part_name(name: str, index: int, compression: str = "none") -> str:
    ext = ".tar.zst" if compression == "zstd" else ".tar"
    return f"{name}{ext}.{index:04d}"


def bundle_of(name: str) -> str | None:
    """The bundle a TOC or part name belongs to; None for any other name."""
    if name.endswith(TOC_SUFFIX):
        return name[: -len(TOC_SUFFIX)]
    m = PART_NAME.match(name)
    return m["bundle"] if m else None
