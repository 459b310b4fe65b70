"""A fake Homebrew upstream on loopback: the JSON API, an OCI registry, a blob CDN and the
vendors' download host.

- ``api`` (an :class:`Upstream`) serves ``/api/*.jws.json`` (JWS documents signed with the
  tests' key, :mod:`tests.support.jws_signer`; ETag and Last-Modified), the registry under
  ``/v2/homebrew/core/`` (every request needs a bearer token from ``/token``: ``QQ==`` alone
  gets a 401 challenge, as a private registry would) and ``/token``.
- blob GETs are redirected to ``cdn``, a second server that rejects any request carrying
  ``Authorization`` (a token leaking across hosts fails the test).
- ``src`` is where formula sources (``/sources/``), casks (``/casks/``, ``/download.php``)
  and formula Ruby files (``/raw/<tap>/<commit>/Formula/...``, what brew asks
  raw.githubusercontent.com for) come from; ``vendor_down = True`` makes it drop every
  connection, as a host outside an air gap does.

The API carries what brew 4.3 reads (``aliases``, ``urls``, ``versions``, ``bottle``,
dependencies ...), the bottles are real tarballs brew pours (:mod:`.archives`), and the
manifests carry the tab brew installs from. The internal (brew 6) payloads are reduced per tag
here with brew's rules written out independently of the plugin: exact tag, else ``all``, else
an older macOS of the same arch.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.plugins.homebrew.archives import (
    TAP_GIT_HEAD,
    bottle_tarball,
    cask_archive,
    formula_ruby,
    install_receipt,
    source_tarball,
)
from tests.support.jws_signer import public_key_file, signer
from tests.support.upstream import Handler, Upstream

TOKEN = "fake-registry-token"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MACOS = {"tahoe": 26, "sequoia": 15, "sonoma": 14, "ventura": 13}
BASE_TIME = 1_750_000_000.0
ALIASES = {"openssl": "openssl@3"}
RENAMES = {"wget2-old": "wget"}
CORE = "Homebrew/homebrew-core"


def key_args() -> list[str]:
    """The ``mirrorkit run homebrew`` arguments that make it trust the tests' signing key."""
    return ["--api-public-key", str(public_key_file())]


@dataclass
class Formula:
    name: str
    version: str
    bottles: list[str]  # tags, newest first (may include "all")
    revision: int = 0
    rebuild: int = 0
    deps: list[str] = field(default_factory=list)
    build_deps: list[str] = field(default_factory=list)
    test_deps: list[str] = field(default_factory=list)
    uses_from_macos: list[tuple[str, str | None]] = field(default_factory=list)  # (name, since)

    @property
    def pkg_version(self) -> str:
        return f"{self.version}_{self.revision}" if self.revision else self.version

    def bottle_bytes(self, tag: str) -> bytes:
        return bottle_tarball(self.name, self.pkg_version, tag, self.rebuild)

    def sha(self, tag: str) -> str:
        return hashlib.sha256(self.bottle_bytes(tag)).hexdigest()

    def source_bytes(self) -> bytes:
        return source_tarball(self.name, self.version)

    def source_path(self) -> str:
        return f"/sources/{self.name}-{self.version}.tar.gz"

    def ruby_source_path(self) -> str:
        return f"Formula/{self.name[0]}/{self.name}.rb"

    def image(self) -> str:
        return self.name.replace("@", "/").replace("+", "x")

    def manifest_tag(self) -> str:
        return f"{self.pkg_version}-{self.rebuild}" if self.rebuild else self.pkg_version

    def ref_name(self, tag: str) -> str:
        return f"{self.pkg_version}.{tag}" + (f".{self.rebuild}" if self.rebuild else "")


@dataclass
class Cask:
    token: str
    version: str
    #: download paths on the vendor host: the default, and per bottle tag (variations)
    path: str
    variations: dict[str, str] = field(default_factory=dict)
    no_check: bool = False

    def body(self, variant: str) -> bytes:
        return cask_archive(self.token, self.version, variant)


def _parse(tag: str) -> tuple[str, str]:
    if tag.startswith("arm64_"):
        return "arm64", tag[6:]
    if tag.startswith("x86_64_"):
        return "x86_64", tag[7:]
    return "x86_64", tag


def served_tag(formula: Formula, tag: str) -> str | None:
    """brew's choice, written out: exact, all, then an older macOS of the same arch."""
    if tag in formula.bottles:
        return tag
    if "all" in formula.bottles:
        return "all"
    arch, system = _parse(tag)
    if system not in MACOS:
        return None
    for candidate in formula.bottles:
        c_arch, c_system = _parse(candidate)
        if c_arch == arch and c_system in MACOS and MACOS[c_system] <= MACOS[system]:
            return candidate
    return None


def jws(payload: Any) -> bytes:
    """``payload`` as formulae.brew.sh serves it: compact JSON, signed (the tests' key)."""
    return signer().sign(payload)


def jws_text(payload: str) -> bytes:
    """A signed document whose payload is ``payload`` as it is (even if it is not JSON)."""
    return signer().sign_text(payload)


class FakeHomebrew:
    def __init__(self, api: Upstream, cdn: Upstream, formulae: list[Formula],
                 tags: list[str], *, src: Upstream | None = None,
                 casks: list[Cask] | None = None) -> None:
        self.api, self.cdn = api, cdn
        self.src = src if src is not None else cdn
        self.formulae = {f.name: f for f in formulae}
        self.casks = {c.token: c for c in casks or []}
        self.tags = tags
        self.generation = 0
        self.vendor_down = False
        self.manifests: dict[str, bytes] = {}
        self.blob_shas: set[str] = set()
        api.route("/token", self._token)
        api.route("/v2/", self._registry)
        cdn.route("/blobs/", self._cdn_guard)
        self.src.route("/", self._vendor)

    # ------------------------------------------------------------------ urls
    def source_url(self, f: Formula) -> str:
        return f"{self.src.url}{f.source_path()}"

    def raw_url(self) -> str:
        """What ``--ruby-source-url`` points at (raw.githubusercontent.com's stand-in)."""
        return f"{self.src.url}/raw"

    def ruby_source(self, f: Formula) -> bytes:
        chosen = {t: f.sha(t) for t in f.bottles}
        return formula_ruby(f.name, f.version, self.source_url(f),
                            hashlib.sha256(f.source_bytes()).hexdigest(), f.deps, chosen)

    def ruby_source_url(self, f: Formula) -> str:
        """Where brew itself fetches the formula's Ruby file (the cache name keeps it)."""
        return (f"https://raw.githubusercontent.com/{CORE}/{TAP_GIT_HEAD}/"
                f"{f.ruby_source_path()}")

    def cask_url(self, path: str) -> str:
        return f"{self.src.url}{path}"

    # ------------------------------------------------------------------ payloads
    def internal_entry(self, f: Formula, tag: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "desc": f"{f.name} does things", "homepage": f"https://example.org/{f.name}",
            "license": "MIT", "stable_version": f.version,
            "stable_url_args": [self.source_url(f)],
            "stable_checksum": hashlib.sha256(f.source_bytes()).hexdigest(),
            "ruby_source_checksum": hashlib.sha256(self.ruby_source(f)).hexdigest(),
        }
        if f.revision:
            entry["revision"] = f.revision
        if f.rebuild:
            entry["bottle_rebuild"] = f.rebuild
        chosen = served_tag(f, tag)
        if chosen is not None:
            entry["bottle_checksum"] = f.sha(chosen)
            if chosen != tag:
                entry["bottle_tag"] = f":{chosen}"
        deps: list[Any] = list(f.deps)
        deps += [{d: ":build"} for d in f.build_deps]
        deps += [{d: [":build", ":test"]} if i % 2 else {d: ":test"}
                 for i, d in enumerate(f.test_deps)]
        if deps:
            deps.append({":macos": [":big_sur"]})  # a requirement, not a formula
            entry["stable_dependencies"] = deps
        if f.uses_from_macos:
            entry["stable_uses_from_macos"] = [
                [name, {":since": f":{since}"}] if since else [name]
                for name, since in f.uses_from_macos
            ]
        return entry

    def legacy_entry(self, f: Formula) -> dict[str, Any]:
        """One formula of ``formula.jws.json``, with every field brew 4.3's ``to_hash`` has."""
        source_sha = hashlib.sha256(f.source_bytes()).hexdigest()
        return {
            "name": f.name, "full_name": f.name, "tap": "homebrew/core",
            "oldnames": sorted(old for old, new in RENAMES.items() if new == f.name),
            "aliases": sorted(a for a, target in ALIASES.items() if target == f.name),
            "versioned_formulae": [], "desc": f"{f.name} does things", "license": "MIT",
            "homepage": f"https://example.org/{f.name}",
            "versions": {"stable": f.version, "head": None, "bottle": bool(f.bottles)},
            "urls": {"stable": {"url": self.source_url(f), "tag": None, "revision": None,
                                "using": None, "checksum": source_sha}},
            "revision": f.revision, "version_scheme": 0,
            "bottle": {"stable": {
                "rebuild": f.rebuild, "root_url": "https://ghcr.io/v2/homebrew/core",
                "files": {tag: {"cellar": ":any_skip_relocation",
                                "url": f"https://ghcr.io/v2/homebrew/core/{f.image()}/blobs/"
                                       f"sha256:{f.sha(tag)}",
                                "sha256": f.sha(tag)} for tag in f.bottles},
            }} if f.bottles else {},
            "pour_bottle_only_if": None, "keg_only": False, "keg_only_reason": None,
            "options": [],
            "build_dependencies": f.build_deps, "dependencies": f.deps,
            "test_dependencies": f.test_deps, "recommended_dependencies": [],
            "optional_dependencies": [],
            "uses_from_macos": [n for n, _ in f.uses_from_macos],
            "uses_from_macos_bounds": [{"since": s} if s else {} for _, s in f.uses_from_macos],
            "requirements": [], "conflicts_with": [], "conflicts_with_reasons": [],
            "link_overwrite": [], "caveats": None, "installed": [], "linked_keg": None,
            "pinned": False, "outdated": False, "deprecated": False, "deprecation_date": None,
            "deprecation_reason": None, "disabled": False, "disable_date": None,
            "disable_reason": None, "post_install_defined": False, "service": None,
            "tap_git_head": TAP_GIT_HEAD, "ruby_source_path": f.ruby_source_path(),
            "ruby_source_checksum": {"sha256": hashlib.sha256(self.ruby_source(f)).hexdigest()},
        }

    def cask_entry(self, c: Cask) -> dict[str, Any]:
        """One cask of ``cask.jws.json`` (brew 4.3's ``Cask#to_h``)."""
        def sha(variant: str) -> str:
            return "no_check" if c.no_check else hashlib.sha256(c.body(variant)).hexdigest()
        return {
            "token": c.token, "full_token": c.token, "old_tokens": [], "tap": "homebrew/cask",
            "name": [c.token.replace("-", " ").title()], "desc": f"{c.token} for the tests",
            "homepage": f"https://example.org/{c.token}",
            "url": self.cask_url(c.path), "url_specs": {}, "version": c.version,
            "installed": None, "installed_time": None, "bundle_version": None,
            "bundle_short_version": None, "outdated": False, "sha256": sha("default"),
            "artifacts": [{"app": [f"{c.token}.app"]}], "caveats": None, "depends_on": {},
            "conflicts_with": None, "container": None, "auto_updates": None,
            "deprecated": False, "deprecation_date": None, "deprecation_reason": None,
            "disabled": False, "disable_date": None, "disable_reason": None,
            "tap_git_head": TAP_GIT_HEAD, "languages": [],
            "ruby_source_path": f"Casks/{c.token[0]}/{c.token}.rb",
            "ruby_source_checksum": {"sha256": "1" * 64},
            "variations": {tag: {"url": self.cask_url(path), "sha256": sha(tag)}
                           for tag, path in c.variations.items()},
        }

    def runtime_deps(self, f: Formula) -> list[dict[str, Any]]:
        return [{"full_name": d, "version": self.formulae[d].pkg_version,
                 "declared_directly": True} for d in f.deps if d in self.formulae]

    def manifest(self, f: Formula) -> bytes:
        manifests = []
        for tag in f.bottles:
            body = f.bottle_bytes(tag)
            tab = install_receipt(f.name, f.pkg_version, tag, self.runtime_deps(f))
            manifests.append({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + hashlib.sha256(b"m" + body).hexdigest(),
                "size": 1234,
                "platform": {"architecture": tab["arch"], "os": tab["built_on"]["os"].lower()},
                "annotations": {
                    "org.opencontainers.image.ref.name": f.ref_name(tag),
                    "sh.brew.bottle.digest": f.sha(tag),
                    "sh.brew.bottle.size": str(len(body)),
                    "sh.brew.tab": json.dumps(tab),
                },
            })
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
                           "annotations": {"com.github.package.type": "homebrew_bottle"}},
                          indent=2).encode()

    # ------------------------------------------------------------------ publishing
    def publish(self) -> None:
        """(Re)serve everything from ``self.formulae``; API files get a new Last-Modified."""
        self.generation += 1
        when = BASE_TIME + self.generation * 3600
        formulae = sorted(self.formulae.values(), key=lambda f: f.name)
        casks = sorted(self.casks.values(), key=lambda c: c.token)
        self.api.add("/api/formula.jws.json", jws([self.legacy_entry(f) for f in formulae]),
                     last_modified=when)
        self.api.add("/api/cask.jws.json", jws([self.cask_entry(c) for c in casks]),
                     last_modified=when)
        self.api.add("/api/formula_tap_migrations.jws.json", jws({"old": "homebrew/cask"}),
                     last_modified=when)
        self.api.add("/api/cask_tap_migrations.jws.json", jws({}), last_modified=when)
        for tag in self.tags:
            payload = {
                "metadata": {"homebrew_version": "6.0.0", "bottle_tag": tag,
                             "generated_at": int(when)},
                "formulae": {f.name: self.internal_entry(f, tag) for f in formulae},
                "casks": {c.token: {"version": c.version} for c in casks},
                "formula_aliases": ALIASES,
                "formula_renames": RENAMES,
            }
            self.api.add(f"/api/internal/packages.{tag}.jws.json", jws(payload),
                         last_modified=when)
        self.manifests = {}
        for f in formulae:
            if f.bottles:
                self.manifests[f"/v2/homebrew/core/{f.image()}/manifests/{f.manifest_tag()}"] = (
                    self.manifest(f))
            for tag in f.bottles:
                sha = f.sha(tag)
                self.blob_shas.add(sha)
                self.cdn.add(f"/blobs/{sha}", f.bottle_bytes(tag), etag=False)
            self.src.add(f.source_path(), f.source_bytes(), last_modified=BASE_TIME)
            self.src.add(f"/raw/{CORE}/{TAP_GIT_HEAD}/{f.ruby_source_path()}",
                         self.ruby_source(f))
        for c in casks:
            self.src.add(c.path.split("?", 1)[0], c.body("default"))
            for tag, path in c.variations.items():
                self.src.add(path.split("?", 1)[0] + _query_key(path), c.body(tag))

    # ------------------------------------------------------------------ servers
    def _token(self, req: Handler) -> bool:
        query = parse_qs(urlsplit(req.path).query)
        if not query.get("scope") or query.get("service") != ["fake-ghcr"]:
            req.send_body(400, b"scope and service required\n")
            return True
        req.send_body(200, json.dumps({"token": TOKEN}).encode(),
                      {"Content-Type": "application/json"})
        return True

    def _registry(self, req: Handler) -> bool:
        path = req.path.split("?", 1)[0]
        head = req.command == "HEAD"
        if req.headers.get("Authorization") != f"Bearer {TOKEN}":
            repo = path.removeprefix("/v2/").rsplit("/", 2)[0]
            challenge = (f'Bearer realm="{self.api.url}/token",service="fake-ghcr",'
                         f'scope="repository:{repo}:pull"')
            req.send_body(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                          {"WWW-Authenticate": challenge}, head=head)
            return True
        if "/manifests/" in path:
            body = self.manifests.get(path)
            if body is None:
                req.send_body(404, b"manifest unknown\n", head=head)
                return True
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            req.send_body(200, body, {"Content-Type": OCI_INDEX, "Docker-Content-Digest": digest,
                                      "ETag": f'"{digest}"'}, head=head)
            return True
        if "/blobs/sha256:" in path:
            sha = path.rsplit(":", 1)[1]
            if sha not in self.blob_shas:
                req.send_body(404, b"blob unknown\n", head=head)
                return True
            req.send_body(307, b"", {"Location": f"{self.cdn.url}/blobs/{sha}?sig=abc"},
                          head=head)
            return True
        req.send_body(404, b"not found\n", head=head)
        return True

    def _cdn_guard(self, req: Handler) -> bool:
        if "Authorization" in req.headers:
            req.send_body(400, b"Authorization must not reach the CDN\n")
            return True
        return False  # served from cdn.files (with its fault injection)

    def _vendor(self, req: Handler) -> bool:
        if self.vendor_down:  # the connection is dropped: a host out of reach
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
            req.close_connection = True
            req.connection.close()
            return True
        if req.path.startswith("/download.php?"):  # a file chosen by its query
            resource = self.src.files.get("/download.php" + _query_key(req.path))
            if resource is None:
                req.send_body(404, b"no such download\n")
            else:
                req.send_body(200, resource.body, head=req.command == "HEAD")
            return True
        return False  # served from src.files


def _query_key(path: str) -> str:
    """Files served by query are stored under ``/download.php#<query>``."""
    return "#" + path.split("?", 1)[1] if "?" in path else ""


def catalog() -> list[Formula]:
    """The formulae of the end-to-end tests (see test_homebrew_e2e.py for what each covers)."""
    three = ["arm64_tahoe", "arm64_sequoia", "x86_64_linux"]
    return [
        Formula("openssl@3", "3.5.0", three, revision=1, deps=["ca-certificates"]),
        Formula("ca-certificates", "2025-01-01", ["all"]),
        Formula("libsigc++@2", "2.12.1", three, rebuild=1),
        Formula("hello", "2.12.2", ["arm64_sequoia", "arm64_sonoma", "x86_64_linux"]),
        Formula("mac-tool", "1.0", ["arm64_tahoe", "arm64_sequoia"]),
        Formula("wget", "1.25.0", three, deps=["openssl@3", "libidn2"], build_deps=["pkgconf"],
                test_deps=["test-helper", "pkgconf"],
                uses_from_macos=[("zlib", None), ("libsigc++@2", "tahoe")]),
        Formula("libidn2", "2.3.8", three),
        Formula("pkgconf", "2.4.3", three),
        Formula("zlib", "1.3.1", three),
        Formula("test-helper", "1.0", three),
        Formula("unrelated", "9.9", three),
    ]


def cask_catalog() -> list[Cask]:
    """Casks: one with a download per platform (one named by its query), one unchecked
    (``sha256 :no_check``), one unchecked and ``version :latest``."""
    return [
        Cask("tool-app", "1.2.0", "/casks/tool-app-1.2.0-arm.zip",
             variations={"sonoma": "/download.php?file=tool-app-1.2.0-intel.zip&lang=en"}),
        Cask("nightly-app", "2025.06.01", "/casks/nightly-app.zip", no_check=True),
        Cask("latest-app", "latest", "/casks/latest-app.zip", no_check=True),
    ]


def serve_fake_homebrew(tags: list[str]) -> Iterator[FakeHomebrew]:
    """A published fake upstream (API + registry host, the blob CDN host, the vendor host),
    then stopped."""
    api, cdn, src = Upstream().start(), Upstream().start(), Upstream().start()
    try:
        fake = FakeHomebrew(api, cdn, catalog(), tags, src=src, casks=cask_catalog())
        fake.publish()
        yield fake
    finally:
        api.stop()
        cdn.stop()
        src.stop()
