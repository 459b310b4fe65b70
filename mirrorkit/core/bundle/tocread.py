"""Reading a TOC from a medium nobody here controls: bounded in size, and streaming.

A TOC of a million files is about 100 MB of JSON; parsed whole into models it took 1.5 GB,
and a TOC that never ends (a link to ``/dev/zero``) was read until memory ran out. So every
TOC read is capped (:func:`toc_limit`, from the bytes of the bundle's parts beside it, or
the operator's ``--max-toc-size``), and listing and checking (``bundles``, ``import
--check``, choosing what to import) parse it streaming with ijson: the ``files`` and
``deleted`` lists are validated entry by entry and dropped, keeping only counts, so memory
stays flat whatever the TOC holds. Only the bundle actually applied is loaded whole.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, BinaryIO

import ijson
from ijson.common import ObjectBuilder
from pydantic import Field, ValidationError

from ..plan.artifact import Kind
from ..plan.paths import UnsafePathError, validate_relpath
from .targets import Target, TargetError
from .toc import FORMAT, TOC_SUFFIX, FileInfo, Toc, TocError, TocHeader

__all__ = [
    "MIN_TOC_LIMIT",
    "TocSummary",
    "load_toc",
    "read_summary",
    "toc_limit",
]

MIN_TOC_LIMIT = 64 * 1024 * 1024
# TOC bytes allowed per byte of parts: a tar member takes at least 512 bytes and its TOC
# entry about 250 plus its path, so a TOC is smaller than its tar; zstd shrinks the tar of
# many small files up to about 30 times
_PER_PART_BYTE = {"none": 2, "zstd": 64}
_READ = 1024 * 1024
_PART_RE = re.compile(r"^(?P<name>.+)\.tar(?P<zst>\.zst)?\.\d{4,}$")
_COUNTS = ("file_count", "file_bytes", "deleted_count")


class TocSummary(TocHeader):
    """A TOC without its lists: the header, the parts, and how many files and deletions."""

    file_count: int = Field(ge=0)
    file_bytes: int = Field(ge=0)
    deleted_count: int = Field(ge=0)


def toc_limit(target: Target, toc_file: str, names: list[str] | None = None) -> int:
    """The most bytes the TOC ``toc_file`` may have, from the parts of its bundle there."""
    bundle = toc_file.removesuffix(TOC_SUFFIX)
    total = 0
    for name in target.names() if names is None else names:
        m = _PART_RE.match(name)
        if m is None or m["name"] != bundle:
            continue
        try:
            size = target.size_of(name) or 0
        except TargetError:
            continue  # reported when the parts are checked
        total += size * _PER_PART_BYTE["zstd" if m["zst"] else "none"]
    return MIN_TOC_LIMIT + total


class _Capped(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes came through, or on a
    lone UTF-16 surrogate escape (``\\ud800`` without its pair): the C parser that reads
    a TOC one record at a time turns one into ``?``, where the whole-TOC loader refuses it
    as invalid JSON, and the two must accept exactly the same TOCs."""

    def __init__(self, fh: BinaryIO, limit: int, where: str) -> None:
        super().__init__()
        self._fh, self._left, self._limit, self._where = fh, limit, limit, where
        self._carry = b""  # the end of what was read, still to be checked with what follows

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = _READ if size is None or size < 0 else size
        data = self._fh.read(min(want, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise TocError(f"{self._where}: larger than {self._limit} bytes, the most a TOC "
                           "beside these parts may have (--max-toc-size to allow more)")
        self._check_surrogates(data)
        return data

    def _check_surrogates(self, data: bytes) -> None:
        buf = self._carry + data
        if b"\\u" not in buf and b"\\U" not in buf:
            self._carry = buf[-_CARRY:] if data else b""
            return
        end = len(buf) if not data else max(0, len(buf) - _CARRY)  # the rest: next time
        for m in _SURROGATE.finditer(buf):
            if m.start() >= end:
                break
            if len(m[1]) % 2 == 0:
                continue  # an escaped backslash followed by the letters "ud..."
            unit = int(m[2], 16)
            pos = m.end()
            if unit < 0xDC00:  # a high surrogate: a low one must follow at once
                low = _LOW.match(buf, pos)
                if low is not None:
                    continue
            elif m.start() >= 6 and _HIGH_BEFORE.match(buf, m.start() - 6) is not None:
                continue
            raise TocError(f"{self._where}: not JSON (a lone surrogate escape "
                           f"\\u{m[2].decode()})")
        self._carry = buf[end:] if data else b""

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


#: what the surrogate check keeps of one read for the next (an escape, its pair, and the run
#: of backslashes before it)
_CARRY = 64
_SURROGATE = re.compile(rb"(\\+)[uU]([dD][89a-fA-F][0-9a-fA-F]{2})")
_LOW = re.compile(rb"\\[uU][dD][c-fC-F][0-9a-fA-F]{2}")
_HIGH_BEFORE = re.compile(rb"\\[uU][dD][89abAB][0-9a-fA-F]{2}")


def _open(target: Target, name: str, limit: int, where: str) -> _Capped:
    return _Capped(target.open_read(name), limit, where)


def load_toc(target: Target, name: str, limit: int, *, where: str) -> Toc:
    """The whole TOC (every file entry), for the bundle about to be applied."""
    with _open(target, name, limit, where) as fh:
        raw = fh.read(limit + 1)
    return Toc.loads(raw, where=where)


def read_summary(target: Target, name: str, limit: int, *, where: str) -> TocSummary:
    """The TOC's header and counts, every entry validated as :meth:`Toc.loads` would."""
    with _open(target, name, limit, where) as fh:
        return _Summarizer(where).parse(fh)


def _error(where: str, exc: ValidationError, prefix: str = "") -> TocError:
    err = exc.errors()[0]
    loc = ".".join(str(p) if str(p).isprintable() else repr(p) for p in err["loc"])
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return TocError(f"{where}: {prefix}{loc}: {err['msg']}{more}")


class _Summarizer:
    """Feeds ijson's events to a builder for the header, and entry by entry to checks."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.file_count = 0
        self.file_bytes = 0
        self.deleted_count = 0
        self._file_keys: set[int] = set()
        self._deleted_keys: set[int] = set()
        self._key = ""  # the last key met at any depth, to name a number past 2^63

    def parse(self, fh: _Capped) -> TocSummary:
        try:
            top = self._walk(ijson.basic_parse(fh, use_float=True))
        except ijson.JSONError as exc:
            if "integer overflow" in str(exc):  # the C parser's limit: far past any size
                raise TocError(f"{self.where}: the number after key {self._key!r} is too "
                               "large for a TOC") from None
            raise TocError(f"{self.where}: not JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(top, dict) or top.get("format") != FORMAT:
            raise TocError(f"{self.where}: not a mirrorkit bundle TOC (format {FORMAT})")
        for key in _COUNTS:
            if key in top:
                raise TocError(f"{self.where}: {key}: Extra inputs are not permitted")
        if "files" not in top:
            raise TocError(f"{self.where}: files: Field required")
        for name in ("files", "deleted"):  # streamed when lists, so left empty here
            if not isinstance(top.pop(name, []), list):
                raise TocError(f"{self.where}: {name}: Input should be a valid list")
        top.update(file_count=self.file_count, file_bytes=self.file_bytes,
                   deleted_count=self.deleted_count)
        try:
            summary = TocSummary.model_validate_json(json.dumps(top))
        except ValidationError as exc:
            raise _error(self.where, exc) from None
        problems = summary.part_problems()
        if self._file_keys & self._deleted_keys:
            problems.append("a path is both a file and deleted")
        room = summary.tar_room_problem(self.file_count, self.file_bytes)
        if room:
            problems.append(room)
        if problems:
            raise TocError(f"{self.where}: {problems[0]}")
        return summary

    def _walk(self, events: Any) -> Any:
        top = ObjectBuilder()
        depth = 0
        key: str | None = None  # the current key of the top-level object
        in_list: str | None = None  # "files" or "deleted" while inside that list
        item: ObjectBuilder | None = None  # an entry holding a container (never a good one)
        flat: dict[str, Any] | None = None  # an entry being read, while it is flat
        entry_key = ""
        for event, value in events:
            if in_list is not None and depth >= 2:
                # the hot loop: a million entries of a flat object each
                if flat is not None and depth == 3:
                    if event == "map_key":
                        entry_key = self._key = value
                        continue
                    if event == "end_map":
                        depth = 2
                        self._entry(in_list, flat)
                        flat = None
                        continue
                    if event not in ("start_map", "start_array"):
                        flat[entry_key] = value
                        continue
                    item = ObjectBuilder()  # a container inside an entry: build it slowly
                    item.event("start_map", None)
                    for k, v in flat.items():
                        item.event("map_key", k)
                        item.event("string" if isinstance(v, str) else "number", v)
                    item.event("map_key", entry_key)
                    flat = None
                if depth == 2 and item is None:
                    if event == "end_array":
                        top.event(event, value)
                        depth = 1
                        in_list = None
                        continue
                    if event == "start_map":
                        flat = {}
                        depth = 3
                        continue
                if event in ("start_map", "start_array"):
                    depth += 1
                elif event in ("end_map", "end_array"):
                    depth -= 1
                elif event == "map_key":
                    self._key = value
                if item is None:
                    item = ObjectBuilder()
                item.event(event, value)
                if depth == 2:
                    self._entry(in_list, item.value)
                    item = None
                continue
            if event == "map_key":
                self._key = value
                if depth == 1:
                    key = value
            top.event(event, value)
            if event in ("start_map", "start_array"):
                depth += 1
                if depth == 2 and event == "start_array" and key in ("files", "deleted"):
                    in_list = key
            elif event in ("end_map", "end_array"):
                depth -= 1
        return top.value

    def _entry(self, which: str | None, value: Any) -> None:
        if which == "files":
            i = self.file_count
            if not _plainly_valid(value):  # pydantic for the exact message (or a rare pass)
                try:
                    FileInfo.model_validate(value)
                except ValidationError as exc:
                    raise _error(self.where, exc, f"files.{i}.") from None
            path, size = value["path"], value["size"]
            key = hash(path)
            if key in self._file_keys:
                raise TocError(f"{self.where}: file {path[:200]!r} is listed twice")
            self._file_keys.add(key)
            self.file_count += 1
            self.file_bytes += size
            return
        i = self.deleted_count
        if not isinstance(value, str):
            raise TocError(f"{self.where}: deleted.{i}: Input should be a valid string")
        try:
            validate_relpath(value)
        except UnsafePathError as exc:
            raise TocError(f"{self.where}: deleted.{i}: {exc}") from None
        self._deleted_keys.add(hash(value))
        self.deleted_count += 1


_FILE_KEYS = frozenset(FileInfo.model_fields)
_KINDS = frozenset(k.value for k in Kind)
_SHA = re.compile(r"[0-9a-f]{64}")
_ORDER = 2**31


def _plainly_valid(value: Any) -> bool:
    """What FileInfo accepts, checked without building it: about a third of the time, for
    the entries of a million-file TOC. Anything else goes to the model (same rules)."""
    if type(value) is not dict or not value.keys() <= _FILE_KEYS:
        return False
    path, size, sha = value.get("path"), value.get("size"), value.get("sha256")
    kind, digest, order = value.get("kind", "blob"), value.get("digest"), value.get("order", 0)
    if not (type(path) is str and type(size) is int and size >= 0 and type(sha) is str
            and _SHA.fullmatch(sha) and type(kind) is str and kind in _KINDS
            and (digest is None or type(digest) is str)
            and type(order) is int and -_ORDER <= order <= _ORDER):
        return False
    try:
        return validate_relpath(path) == path
    except UnsafePathError:
        return False
