"""A suite's ``Release``: which index files exist, their SHA256, and which of them we want."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from mirrorkit.api import PlanError

from .control import COMPRESSED, parse_fields

__all__ = ["IndexFile", "Release", "Selection", "parse_release", "strip_clearsign"]


@dataclass(frozen=True, slots=True)
class IndexFile:
    name: str  # relative to dists/<suite>/: main/binary-amd64/Packages.xz
    size: int
    sha256: str

    @property
    def compressed(self) -> bool:
        return any(self.name.endswith(s) for s in COMPRESSED)

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.name)


@dataclass(slots=True)
class Release:
    components: list[str]
    architectures: list[str]
    by_hash: bool
    files: list[IndexFile]


@dataclass(slots=True)
class Selection:
    """What of a suite to mirror (the union of every line naming it) and the optional parts."""

    binary_components: list[str]
    source_components: list[str]
    arches: list[str]
    udeb: bool = False
    contents: bool = False
    translations: bool = False
    _arch_set: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._arch_set = {*self.arches, "all"}

    def wants(self, name: str) -> bool:
        top = name.split("/")
        if len(top) == 1:  # Contents-amd64.gz at the suite's top
            return self.contents and self._contents_arch(top[0])
        for comp in dict.fromkeys(self.binary_components + self.source_components):
            if not name.startswith(comp + "/"):
                continue
            parts = name[len(comp) + 1:].split("/")
            binary = comp in self.binary_components
            head = parts[0]
            if len(parts) == 1:
                return binary and self.contents and self._contents_arch(head)
            if len(parts) != 2:
                if head == "debian-installer" and len(parts) == 3:
                    return (binary and self.udeb and parts[1].startswith("binary-")
                            and parts[1][7:] in self._arch_set)
                return False
            if head.startswith("binary-"):
                return binary and head[7:] in self._arch_set
            if head == "source":
                return comp in self.source_components
            if head == "i18n":
                return binary and self.translations and parts[1].startswith("Translation-")
        return False

    def _contents_arch(self, name: str) -> bool:
        if not name.startswith("Contents-"):
            return False
        stem = name[len("Contents-"):].split(".", 1)[0]
        if stem.startswith("udeb-"):
            return self.udeb and stem[5:] in self._arch_set
        return stem in self._arch_set or (stem == "source" and bool(self.source_components))


def strip_clearsign(text: str) -> str:
    """The signed text of an ``InRelease`` (for suites whose signature is not checked)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "-----BEGIN PGP SIGNED MESSAGE-----":
        return text
    try:
        start = lines.index("") + 1
        end = lines.index("-----BEGIN PGP SIGNATURE-----")
    except ValueError:
        raise PlanError("InRelease: malformed clearsigned message") from None
    return "\n".join(line[2:] if line.startswith("- ") else line
                     for line in lines[start:end]) + "\n"


def parse_release(text: str, where: str) -> Release:
    fields = parse_fields(text.encode("utf-8"))
    sums = fields.get("SHA256")
    if not sums:
        raise PlanError(f"{where}: no SHA256 file list (apt needs one to trust the indexes)")
    files: list[IndexFile] = []
    for line in sums.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[0]) != 64:
            raise PlanError(f"{where}: malformed SHA256 line {line.strip()!r}")
        files.append(IndexFile(parts[2], int(parts[1]), parts[0].lower()))
    return Release(
        components=fields.get("Components", "").split(),
        architectures=fields.get("Architectures", "").split(),
        by_hash=fields.get("Acquire-By-Hash", "").strip().lower() == "yes",
        files=files,
    )
