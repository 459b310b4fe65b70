"""A PyPI-like upstream on 127.0.0.1: real wheels and sdists built here, a simple index.

Wheels are zipped by hand with a correct METADATA, WHEEL and RECORD (pip installs them);
sdists are tarballs with a PKG-INFO. The index answers PEP 691 JSON or PEP 503 HTML by
``Accept``, with serials (``_last-serial``, ``X-PyPI-Last-Serial``) and ETags, and serves
PEP 658 ``.metadata`` files, as pypi.org does; serials and JSON can be switched off to play
a plainer upstream.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape

from tests.support.upstream import Handler, Upstream

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(name: str, version: str, requires: list[str], requires_python: str | None,
              extras: list[str], metadata_version: str = "2.1") -> bytes:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}",
             "Summary: a test project"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {e}" for e in extras]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n\n").encode()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest},{len(data)}"


@dataclass
class Dist:
    filename: str
    body: bytes
    metadata: bytes
    requires_python: str | None = None
    yanked: bool | str = False
    serve_metadata: bool = True

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def build_wheel(name: str, version: str, *, requires: list[str] | None = None,
                tag: str = "py3-none-any", requires_python: str | None = None,
                extras: list[str] | None = None) -> Dist:
    """A real, installable wheel of a module ``<name>`` whose ``VERSION`` is ``version``."""
    module = name.replace("-", "_")
    dist = f"{module}-{version}"
    meta = _metadata(name, version, requires or [], requires_python, extras or [])
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}.dist-info/METADATA": meta,
        f"{dist}.dist-info/WHEEL": (f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: "
                                    f"true\nTag: {tag}\n\n").encode(),
    }
    record = "".join(f"{path},{_record_hash(data)}\n" for path, data in files.items())
    record += f"{dist}.dist-info/RECORD,,\n"
    files[f"{dist}.dist-info/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data)
    return Dist(f"{dist}-{tag}.whl", buf.getvalue(), meta, requires_python)


def build_sdist(name: str, version: str, *, requires: list[str] | None = None,
                requires_python: str | None = None, metadata_version: str = "2.2") -> Dist:
    module = name.replace("-", "_")
    top = f"{module}-{version}"
    meta = _metadata(name, version, requires or [], requires_python, [], metadata_version)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path, data in ((f"{top}/PKG-INFO", meta),
                           (f"{top}/{module}/__init__.py", f"VERSION = {version!r}\n".encode())):
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 1577836800
            tf.addfile(info, io.BytesIO(data))
    return Dist(f"{top}.tar.gz", buf.getvalue(), meta, requires_python)


@dataclass
class Project:
    name: str
    dists: list[Dist] = field(default_factory=list)
    serial: int = 0


class FakePyPI:
    """``/simple/`` and ``/files/`` on one loopback server."""

    def __init__(self, *, serials: bool = True, json_api: bool = True,
                 relative_links: bool = False) -> None:
        self.up = Upstream()
        self.serials = serials
        self.json_api = json_api
        #: link files as ``../../files/...`` (devpi, Nexus, Artifactory do), so that they
        #: inherit whatever the page URL carries (credentials, a token in the path)
        self.relative_links = relative_links
        self.projects: dict[str, Project] = {}
        self.serial = 100
        self.up.route("/simple/", self._simple)

    @property
    def index_url(self) -> str:
        return f"{self.up.url}/simple/"

    def start(self) -> FakePyPI:
        self.up.start()
        return self

    # ------------------------------------------------------------ catalogue
    def _bump(self, project: Project) -> None:
        self.serial += 1
        project.serial = self.serial

    def add(self, name: str, *dists: Dist) -> None:
        project = self.projects.setdefault(normalize(name), Project(name))
        for d in dists:
            project.dists.append(d)
            self.up.add(self.file_path(name, d.filename), d.body)
            if d.serve_metadata:
                self.up.add(self.file_path(name, d.filename) + ".metadata", d.metadata)
        self._bump(project)

    def remove(self, name: str, filename: str) -> None:
        project = self.projects[normalize(name)]
        project.dists = [d for d in project.dists if d.filename != filename]
        self.up.remove(self.file_path(name, filename))
        self._bump(project)

    def yank(self, name: str, filename: str, reason: str | bool = True) -> None:
        project = self.projects[normalize(name)]
        for d in project.dists:
            if d.filename == filename:
                d.yanked = reason
        self._bump(project)

    def file_path(self, name: str, filename: str) -> str:
        return f"/files/{normalize(name)}/{filename}"

    def dist(self, name: str, filename: str) -> Dist:
        return next(d for d in self.projects[normalize(name)].dists if d.filename == filename)

    def page_requests(self) -> list[str]:
        return [r.path for r in self.up.requests("/simple/") if r.path != "/simple/"]

    def file_requests(self) -> list[str]:
        return [r.path for r in self.up.requests("/files/")]

    # --------------------------------------------------------------- serving
    def _simple(self, req: Handler) -> bool:
        path = req.path.split("?", 1)[0]
        wants_json = self.json_api and JSON_TYPE in (req.headers.get("Accept") or "")
        headers = {"Content-Type": JSON_TYPE if wants_json else "text/html; charset=utf-8",
                   "Vary": "Accept"}
        if self.serials:
            headers["X-PyPI-Last-Serial"] = str(self.serial)
        if path == "/simple/":
            body = self._root_json() if wants_json else self._root_html()
        else:
            norm = path[len("/simple/"):].strip("/")
            project = self.projects.get(norm)
            if project is None or "/" in norm:
                req.send_body(404, b"not found\n")
                return True
            if self.serials:
                headers["X-PyPI-Last-Serial"] = str(project.serial)
            body = self._project_json(project) if wants_json else self._project_html(project)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers["ETag"] = etag
        if req.headers.get("If-None-Match") == etag:
            req.send_body(304, b"", headers)
            return True
        req.send_body(200, body, headers, head=req.command == "HEAD")
        return True

    def _root_json(self) -> bytes:
        meta: dict[str, object] = {"api-version": "1.1"}
        if self.serials:
            meta["_last-serial"] = self.serial
        projects = [{"name": p.name, **({"_last-serial": p.serial} if self.serials else {})}
                    for p in self.projects.values()]
        return json.dumps({"meta": meta, "projects": projects}).encode()

    def _root_html(self) -> bytes:
        links = "".join(f'<a href="/simple/{normalize(p.name)}/">{escape(p.name)}</a>\n'
                        for p in self.projects.values())
        return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()

    def _files(self, project: Project) -> Iterator[tuple[Dist, str]]:
        for d in project.dists:
            path = self.file_path(project.name, d.filename)
            yield d, f"../..{path}" if self.relative_links else f"{self.up.url}{path}"

    def _project_json(self, project: Project) -> bytes:
        meta: dict[str, object] = {"api-version": "1.1"}
        if self.serials:
            meta["_last-serial"] = project.serial
        files = []
        for d, url in self._files(project):
            md: object = ({"sha256": hashlib.sha256(d.metadata).hexdigest()}
                          if d.serve_metadata else False)
            files.append({"filename": d.filename, "url": url, "hashes": {"sha256": d.sha256},
                          "requires-python": d.requires_python, "yanked": d.yanked,
                          "core-metadata": md, "dist-info-metadata": md,
                          "size": len(d.body), "upload-time": "2026-01-01T00:00:00.000000Z"})
        return json.dumps({"meta": meta, "name": project.name, "files": files,
                           "versions": []}).encode()

    def _project_html(self, project: Project) -> bytes:
        out = [f"<!DOCTYPE html><html><body><h1>Links for {escape(project.name)}</h1>"]
        for d, url in self._files(project):
            attrs = f'href="{escape(url)}#sha256={d.sha256}"'
            if d.requires_python:
                attrs += f' data-requires-python="{escape(d.requires_python)}"'
            if d.yanked is not False:
                attrs += f' data-yanked="{escape(d.yanked if isinstance(d.yanked, str) else "")}"'
            if d.serve_metadata:
                attrs += f' data-core-metadata="sha256={hashlib.sha256(d.metadata).hexdigest()}"'
            out.append(f"<a {attrs}>{escape(d.filename)}</a><br/>")
        out.append("</body></html>\n")
        return "\n".join(out).encode()
