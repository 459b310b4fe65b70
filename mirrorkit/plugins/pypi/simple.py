"""Reading an upstream simple index: PEP 691 JSON, or PEP 503 HTML when that is all it speaks.

Both forms end in the same :class:`ProjectPage`, which is also what the plugin caches per
project between runs (``to_json``/``from_json``), so a project whose serial did not move is
planned again without a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

__all__ = ["JSON_TYPE", "DistFile", "ProjectPage", "RootListing", "normalize",
           "parse_project", "parse_root"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"

_NORMALIZE = re.compile(r"[-_.]+")
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!~-]*$")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def normalize(name: str) -> str:
    """PEP 503's normalised project name (the directory name under ``simple/``)."""
    return _NORMALIZE.sub("-", name).lower()


class PageError(ValueError):
    """The upstream page is malformed; the message says what and where."""


@dataclass(slots=True)
class DistFile:
    """One file of a project as upstream lists it (the URL resolved against the page)."""

    filename: str
    url: str
    sha256: str
    size: int | None = None
    requires_python: str | None = None
    yanked: bool | str = False
    #: sha256 of the PEP 658 ``<file>.metadata`` side file; "" when offered without a hash;
    #: None when not offered
    metadata_sha256: str | None = None
    upload_time: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"f": self.filename, "u": self.url, "h": self.sha256}
        for key, value in (("s", self.size), ("rp", self.requires_python),
                           ("m", self.metadata_sha256), ("t", self.upload_time)):
            if value is not None:
                out[key] = value
        if self.yanked is not False:
            out["y"] = self.yanked
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DistFile:
        return cls(d["f"], d["u"], d["h"], d.get("s"), d.get("rp"), d.get("y", False),
                   d.get("m"), d.get("t"))


@dataclass(slots=True)
class ProjectPage:
    name: str                      # the display name upstream gives (else the normalised one)
    files: list[DistFile] = field(default_factory=list)
    serial: int | None = None      # PEP 691 ``meta._last-serial`` or ``X-PyPI-Last-Serial``
    skipped: int = 0               # files upstream lists without a sha256 (never mirrored)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "serial": self.serial, "skipped": self.skipped,
                "files": [f.to_json() for f in self.files]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProjectPage:
        return cls(d["name"], [DistFile.from_json(f) for f in d["files"]], d.get("serial"),
                   d.get("skipped", 0))


@dataclass(slots=True)
class RootListing:
    """The upstream root: every project's serial when it gives them, and its own serial."""

    serial: int | None = None
    projects: dict[str, int | None] = field(default_factory=dict)
    #: the body itself names the index's serial (PEP 691 ``meta._last-serial``): a body
    #: that did not change says that no project changed (a header serial is not in it)
    serial_in_body: bool = False


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _serial(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_root(body: bytes, content_type: str, header_serial: str | None) -> RootListing:
    """The root listing; an HTML root only tells its serial (from the header)."""
    out = RootListing(serial=_serial(header_serial))
    if not content_type.startswith(JSON_TYPE):
        return out
    import json

    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PageError(f"root index is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise PageError("root index has no 'projects' list")
    meta = _dict(data.get("meta"))
    body_serial = _serial(meta.get("_last-serial"))
    out.serial_in_body = body_serial is not None
    if out.serial is None:
        out.serial = body_serial
    for item in data["projects"]:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out.projects[normalize(item["name"])] = _serial(item.get("_last-serial"))
    return out


def parse_project(body: bytes, content_type: str, page_url: str, name: str,
                  header_serial: str | None) -> ProjectPage:
    """One project page in either form; ``page_url`` resolves relative file URLs."""
    if content_type.startswith(JSON_TYPE):
        page = _parse_json(body, page_url, name)
    else:
        page = _parse_html(body, page_url, name)
    if page.serial is None:
        page.serial = _serial(header_serial)
    return page


def _check_filename(name: str, filename: str) -> str:
    if not _SAFE_FILENAME.match(filename) or len(filename) > 255:
        raise PageError(f"project {name}: unsafe file name {filename[:80]!r}")
    return filename


def _parse_json(body: bytes, page_url: str, name: str) -> ProjectPage:
    import json

    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PageError(f"project {name}: page is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise PageError(f"project {name}: page has no 'files' list")
    meta = _dict(data.get("meta"))
    page = ProjectPage(name=str(data.get("name") or name),
                       serial=_serial(meta.get("_last-serial")))
    for item in data["files"]:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str) \
                or not isinstance(item.get("url"), str):
            raise PageError(f"project {name}: a file entry lacks filename or url")
        hashes = _dict(item.get("hashes"))
        sha = hashes.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            page.skipped += 1
            continue
        meta_field = item.get("core-metadata", item.get("dist-info-metadata", False))
        size = item.get("size")
        yanked = item.get("yanked", False)
        rp = item.get("requires-python")
        page.files.append(DistFile(
            filename=_check_filename(name, item["filename"]),
            url=urldefrag(urljoin(page_url, item["url"]))[0],
            sha256=sha.lower(),
            size=size if isinstance(size, int) and size >= 0 else None,
            requires_python=rp if isinstance(rp, str) and rp.strip() else None,
            yanked=yanked if isinstance(yanked, str) and yanked else bool(yanked),
            metadata_sha256=_metadata_hash(meta_field),
            upload_time=item.get("upload-time") if isinstance(item.get("upload-time"), str)
            else None,
        ))
    return page


def _metadata_hash(value: Any) -> str | None:
    """PEP 691's ``core-metadata``: false/absent, true, or ``{"sha256": ...}``."""
    if value is True:
        return ""
    if isinstance(value, dict):
        sha = value.get("sha256")
        return sha.lower() if isinstance(sha, str) else ""
    return None


def _html_metadata_hash(value: str | None) -> str | None:
    """PEP 658's attribute: ``true`` or ``sha256=<hex>`` (another hash counts as "offered")."""
    if value is None:
        return None
    alg, _, hexval = value.partition("=")
    return hexval.lower() if alg == "sha256" and hexval else ""


def _anchors(text: str) -> tuple[str | None, list[dict[str, str | None]]]:
    """The ``<base href>`` and every ``<a>``'s attributes (html.parser: only for HTML)."""
    from html.parser import HTMLParser

    class Anchors(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.base: str | None = None
            self.anchors: list[dict[str, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "base" and self.base is None:
                self.base = dict(attrs).get("href")
            elif tag == "a":
                self.anchors.append(dict(attrs))

    parser = Anchors()
    parser.feed(text)
    parser.close()
    return parser.base, parser.anchors


def _parse_html(body: bytes, page_url: str, name: str) -> ProjectPage:
    base_href, anchors = _anchors(body.decode("utf-8", errors="replace"))
    base = urljoin(page_url, base_href) if base_href else page_url
    page = ProjectPage(name=name)
    for attrs in anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, frag = urldefrag(urljoin(base, href))
        alg, _, hexval = frag.partition("=")
        filename = url.rsplit("/", 1)[-1]
        if alg != "sha256" or not _SHA256.fullmatch(hexval.lower()):
            page.skipped += 1
            continue
        yanked: bool | str = ("data-yanked" in attrs) and (attrs["data-yanked"] or True)
        rp = attrs.get("data-requires-python")
        meta_key = next((k for k in ("data-core-metadata", "data-dist-info-metadata")
                         if k in attrs), None)
        meta = (attrs[meta_key] or "true") if meta_key else None
        page.files.append(DistFile(
            filename=_check_filename(name, unquote(filename)),
            url=url,
            sha256=hexval.lower(),
            requires_python=rp.strip() if rp and rp.strip() else None,
            yanked=yanked,
            metadata_sha256=_html_metadata_hash(meta),
        ))
    return page
