"""A fake Homebrew upstream on loopback: the JSON API, an OCI registry, and a blob CDN.

- ``api`` (an :class:`Upstream`) serves ``/api/*.jws.json`` (JWS envelopes, ETag and
  Last-Modified), the registry under ``/v2/homebrew/core/`` (every request needs a bearer
  token from ``/token``: ``QQ==`` alone gets a 401 challenge, as a private registry would)
  and ``/token``.
- blob GETs are redirected to ``cdn``, a second server that rejects any request carrying
  ``Authorization`` (a token leaking across hosts fails the test).

The internal (brew 6) payloads are reduced per tag here with brew's rules written out
independently of the plugin: exact tag, else ``all``, else an older macOS of the same arch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.upstream import Handler, Upstream

TOKEN = "fake-registry-token"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MACOS = {"tahoe": 26, "sequoia": 15, "sonoma": 14, "ventura": 13}
BASE_TIME = 1_750_000_000.0


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
        return (f"bottle of {self.name} {self.pkg_version} for {tag} rebuild {self.rebuild}\n"
                * 40).encode()

    def sha(self, tag: str) -> str:
        return hashlib.sha256(self.bottle_bytes(tag)).hexdigest()

    def image(self) -> str:
        return self.name.replace("@", "/").replace("+", "x")

    def manifest_tag(self) -> str:
        return f"{self.pkg_version}-{self.rebuild}" if self.rebuild else self.pkg_version

    def ref_name(self, tag: str) -> str:
        return f"{self.pkg_version}.{tag}" + (f".{self.rebuild}" if self.rebuild else "")


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
    return json.dumps({
        "payload": json.dumps(payload, separators=(",", ":")),
        "signatures": [{"protected": "eyJhbGciOiJQUzUxMiJ9", "header": {"kid": "homebrew-1"},
                        "signature": "c2lnbmF0dXJl"}],
    }).encode()


class FakeHomebrew:
    def __init__(self, api: Upstream, cdn: Upstream, formulae: list[Formula],
                 tags: list[str]) -> None:
        self.api, self.cdn = api, cdn
        self.formulae = {f.name: f for f in formulae}
        self.tags = tags
        self.generation = 0
        self.manifests: dict[str, bytes] = {}
        self.blob_shas: set[str] = set()
        api.route("/token", self._token)
        api.route("/v2/", self._registry)
        cdn.route("/blobs/", self._cdn_guard)

    # ------------------------------------------------------------------ payloads
    def internal_entry(self, f: Formula, tag: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "desc": f"{f.name} does things", "homepage": f"https://example.org/{f.name}",
            "license": "MIT", "stable_version": f.version,
            "stable_url_args": [f"https://example.org/{f.name}-{f.version}.tar.gz"],
            "ruby_source_checksum": "0" * 64,
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
        return {
            "name": f.name, "full_name": f.name, "tap": "homebrew/core", "desc": "x",
            "versions": {"stable": f.version, "head": None, "bottle": bool(f.bottles)},
            "revision": f.revision,
            "bottle": {"stable": {
                "rebuild": f.rebuild, "root_url": "https://ghcr.io/v2/homebrew/core",
                "files": {tag: {"cellar": ":any",
                                "url": f"https://ghcr.io/v2/homebrew/core/{f.image()}/blobs/"
                                       f"sha256:{f.sha(tag)}",
                                "sha256": f.sha(tag)} for tag in f.bottles},
            }} if f.bottles else {},
            "dependencies": f.deps, "build_dependencies": f.build_deps,
            "test_dependencies": f.test_deps,
            "uses_from_macos": [n for n, _ in f.uses_from_macos],
            "uses_from_macos_bounds": [{"since": s} if s else {} for _, s in f.uses_from_macos],
        }

    def manifest(self, f: Formula) -> bytes:
        manifests = []
        for tag in f.bottles:
            body = f.bottle_bytes(tag)
            manifests.append({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + hashlib.sha256(b"m" + body).hexdigest(),
                "size": 1234,
                "annotations": {
                    "org.opencontainers.image.ref.name": f.ref_name(tag),
                    "sh.brew.bottle.digest": f.sha(tag),
                    "sh.brew.bottle.size": str(len(body)),
                    "sh.brew.tab": json.dumps({"homebrew_version": "6.0.0"}),
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
        self.api.add("/api/formula.jws.json", jws([self.legacy_entry(f) for f in formulae]),
                     last_modified=when)
        self.api.add("/api/cask.jws.json", jws([{"token": "firefox", "version": "1"}]),
                     last_modified=when)
        self.api.add("/api/formula_tap_migrations.jws.json", jws({"old": "homebrew/cask"}),
                     last_modified=when)
        self.api.add("/api/cask_tap_migrations.jws.json", jws({}), last_modified=when)
        for tag in self.tags:
            payload = {
                "metadata": {"homebrew_version": "6.0.0", "bottle_tag": tag,
                             "generated_at": int(when)},
                "formulae": {f.name: self.internal_entry(f, tag) for f in formulae},
                "casks": {"firefox": {"version": "1"}},
                "formula_aliases": {"openssl": "openssl@3"},
                "formula_renames": {"wget2-old": "wget"},
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


def serve_fake_homebrew(tags: list[str]) -> Iterator[FakeHomebrew]:
    """A published fake upstream (API + registry host, and the blob CDN host), then stopped."""
    api, cdn = Upstream().start(), Upstream().start()
    try:
        fake = FakeHomebrew(api, cdn, catalog(), tags)
        fake.publish()
        yield fake
    finally:
        api.stop()
        cdn.stop()
