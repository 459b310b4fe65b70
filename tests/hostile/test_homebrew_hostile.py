"""A hostile Homebrew upstream: JWS envelopes, API payloads and OCI image indexes.

One good mirror is made per module (against the fake upstream of the Homebrew plugin's own
tests), then each case serves one hostile file and runs again on a copy of that mirror:
exit 1, an error line naming the file (and the key), the previous snapshot kept byte for
byte, nothing written beside the mirror.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mirrorkit.core.store.manifest import load_manifest
from tests.hostile.harness import Sentinel, assert_clear_error, invoke, snapshot
from tests.plugins.homebrew.fake_brew import (
    FakeHomebrew,
    jws,
    jws_text,
    key_args,
    serve_fake_homebrew,
)

TAGS = ["arm64_sequoia", "x86_64_linux"]
INTERNAL = "/api/internal/packages.x86_64_linux.jws.json"
LEGACY = "/api/formula.jws.json"


@pytest.fixture(scope="module")
def brew() -> Iterator[FakeHomebrew]:
    yield from serve_fake_homebrew(TAGS)


def _args(brew: FakeHomebrew, dest: Path) -> list[str | Path]:
    args: list[str | Path] = ["run", "homebrew", "--dest", dest,
                              "--api-url", f"{brew.api.url}/api",
                              "--registry-url", f"{brew.api.url}/v2/homebrew/core",
                              "--retries", "0", "--formula", "wget", "--formula", "hello",
                              *key_args()]
    for tag in TAGS:
        args += ["--tag", tag]
    return args


@pytest.fixture(scope="module")
def good_mirror(brew: FakeHomebrew, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("template") / "mirror"
    out = invoke(*_args(brew, dest))
    assert out.code == 0, out.stderr
    return dest


def _payload(brew: FakeHomebrew, path: str) -> Any:
    return json.loads(json.loads(brew.api.files[path].body)["payload"])


def _internal(change: Callable[[dict[str, Any]], object]) -> Callable[[FakeHomebrew], bytes]:
    def make(brew: FakeHomebrew) -> bytes:
        payload = _payload(brew, INTERNAL)
        change(payload)
        return jws(payload)
    return make


def _wget(**fields: Any) -> Callable[[FakeHomebrew], bytes]:
    return _internal(lambda p: p["formulae"]["wget"].update(fields))


def _legacy(change: Callable[[list[dict[str, Any]]], object]
            ) -> Callable[[FakeHomebrew], bytes]:
    def make(brew: FakeHomebrew) -> bytes:
        payload = _payload(brew, LEGACY)
        change(payload)
        return jws(payload)
    return make


def _legacy_wget(change: Callable[[dict[str, Any]], object]) -> Callable[[FakeHomebrew], bytes]:
    return _legacy(lambda p: change(next(f for f in p if f["name"] == "wget")))


def _rename(payload: dict[str, Any], new: str) -> None:
    payload["formulae"][new] = payload["formulae"].pop("wget")


def _prepend_string(payload: list[Any]) -> None:
    payload.insert(0, "x")


def _envelope(doc: Any) -> Callable[[FakeHomebrew], bytes]:
    return lambda brew: doc if isinstance(doc, bytes) else json.dumps(doc).encode()


SIG = [{"protected": "e30", "signature": "c2ln"}]
SHA = "0" * 64

# (case, file served, hostile body, words the error line must contain)
API_CASES: list[tuple[str, str, Callable[[FakeHomebrew], bytes], tuple[str, ...]]] = [
    ("jws-not-json", INTERNAL, _envelope(b'{"payload": "{'), ("packages.x86_64_linux",
                                                               "invalid JSON")),
    ("jws-top-level-list", INTERNAL, _envelope([1, 2]), ("packages.x86_64_linux", "list")),
    ("jws-payload-not-string", INTERNAL, _envelope({"payload": {"formulae": {}},
                                                    "signatures": SIG}), ("'payload'",)),
    ("jws-no-signatures", INTERNAL, _envelope({"payload": "{}", "signatures": []}),
     ("'signatures'",)),
    ("jws-payload-not-json", INTERNAL, lambda brew: jws_text("{formulae"),
     ("payload is not valid JSON",)),
    ("legacy-jws-not-json", LEGACY, _envelope(b"\xff\xfe garbage"), ("formula.jws.json",)),
    ("payload-wrong-type", INTERNAL, _internal(lambda p: p.update(formulae=[1])),
     ("'formulae' is not an object",)),
    ("name-dotdot", INTERNAL, _internal(lambda p: _rename(p, "../../escape")),
     ("formulae", "escape")),
    ("name-slash", INTERNAL, _internal(lambda p: _rename(p, "a/../../b")), ("formulae",)),
    ("name-backslash", INTERNAL, _internal(lambda p: _rename(p, "a\\..\\b")), ("formulae",)),
    ("name-nul", INTERNAL, _internal(lambda p: _rename(p, "wget\u0000x")), ("formulae",)),
    ("version-traversal", INTERNAL, _wget(stable_version="../../../tmp/x"),
     ("stable_version",)),
    ("version-absolute", INTERNAL, _wget(stable_version="/etc/passwd"), ("stable_version",)),
    ("revision-negative", INTERNAL, _wget(revision=-1), ("revision",)),
    ("revision-string", INTERNAL, _wget(revision="1"), ("revision",)),
    ("revision-huge", INTERNAL, _wget(revision=10**40), ("wget",)),
    ("rebuild-float", INTERNAL, _wget(bottle_rebuild=1e308), ("bottle_rebuild",)),
    ("checksum-short", INTERNAL, _wget(bottle_checksum="abc"), ("bottle_checksum",)),
    ("checksum-long", INTERNAL, _wget(bottle_checksum=SHA + "0"), ("bottle_checksum",)),
    ("checksum-not-hex", INTERNAL, _wget(bottle_checksum="g" * 64), ("bottle_checksum",)),
    ("checksum-wrong", INTERNAL, _wget(bottle_checksum="1" * 64), ("wget",)),
    ("bottle-tag-traversal", INTERNAL, _wget(bottle_tag=":../../x"), ("bottle_tag",)),
    ("deps-wrong-type", INTERNAL, _wget(stable_dependencies={"a": 1}), ("wget",)),
    ("aliases-wrong-type", INTERNAL, _internal(lambda p: p.update(formula_aliases=[1])),
     ("formula_aliases",)),
    ("legacy-entry-not-object", LEGACY, _legacy(_prepend_string), ("[0]",)),
    ("legacy-tag-traversal", LEGACY, _legacy_wget(
        lambda f: f["bottle"]["stable"]["files"].update({"../../x": {"sha256": SHA}})),
     ("wget", "bottle tag")),
    ("legacy-sha-short", LEGACY, _legacy_wget(
        lambda f: f["bottle"]["stable"]["files"]["x86_64_linux"].update(sha256="ab")),
     ("wget", "sha256")),
    ("legacy-name-traversal", LEGACY, _legacy_wget(lambda f: f.update(name="../x")),
     ("name",)),
]


def _manifest_path(brew: FakeHomebrew) -> str:
    return next(p for p in brew.manifests if "/wget/" in p)


def _bump_wget(brew: FakeHomebrew) -> str:
    """Publish wget 1.26 (so its manifest is read again); returns the manifest's path."""
    brew.formulae["wget"].version = "1.26.0"
    brew.publish()
    return _manifest_path(brew)


MANIFEST_CASES: list[tuple[str, Callable[[bytes], bytes], tuple[str, ...]]] = [
    ("manifest-not-json", lambda b: b"<html>502 Bad Gateway</html>", ("manifests/1.26.0",)),
    ("manifest-no-list", lambda b: b'{"schemaVersion": 2, "manifests": {}}',
     ("manifests/1.26.0",)),
    ("manifest-missing-bottle", lambda b: json.dumps(
        {"schemaVersion": 2, "manifests": []}).encode(), ("manifests/1.26.0",)),
    ("manifest-wrong-digest", lambda b: b.replace(b'"sh.brew.bottle.digest": "',
                                                  b'"sh.brew.bottle.digest": "0'),
     ("manifests/1.26.0",)),
    ("manifest-huge-size", lambda b: b.replace(b'"sh.brew.bottle.size": "',
                                               b'"sh.brew.bottle.size": "9' + b"9" * 5000),
     ("manifests/1.26.0",)),
]
MANIFEST_MARKS: dict[str, list[pytest.MarkDecorator]] = {}


@pytest.fixture
def case_dir(brew: FakeHomebrew, good_mirror: Path, tmp_path: Path
             ) -> Iterator[tuple[Path, Sentinel]]:
    dest = tmp_path / "mirror"
    shutil.copytree(good_mirror, dest, symlinks=True)
    saved_files, saved_manifests = dict(brew.api.files), dict(brew.manifests)
    saved_version, saved_generation = brew.formulae["wget"].version, brew.generation
    try:
        yield dest, Sentinel(tmp_path, dest)
    finally:
        brew.api.files.clear()
        brew.api.files.update(saved_files)
        brew.manifests = saved_manifests
        brew.formulae["wget"].version = saved_version
        brew.generation = saved_generation


def _assert_refused(brew: FakeHomebrew, dest: Path, sentinel: Sentinel,
                    needles: tuple[str, ...], template: Path) -> None:
    """Refused; the failed run may only have recorded verified new blobs it committed."""
    before = snapshot(dest)
    out = invoke(*_args(brew, dest))
    assert_clear_error(out, 1, *needles)
    after = snapshot(dest)
    served = {k: v for k, v in before.items() if not k.startswith(".mirrorkit")}
    assert {k: v for k, v in after.items() if k in served} == served
    old, new = load_manifest(template), load_manifest(dest)
    assert old is not None and new is not None
    assert new.snapshot == old.snapshot  # still the previous snapshot ...
    assert {p: new.files.get(p) for p in old.files} == old.files  # ... every file of it intact
    sentinel.assert_untouched()


@pytest.mark.parametrize("case", [c[0] for c in API_CASES])
def test_hostile_api_file_is_refused(brew: FakeHomebrew, case_dir: tuple[Path, Sentinel],
                                     case: str, good_mirror: Path) -> None:
    dest, sentinel = case_dir
    _, path, make, needles = next(c for c in API_CASES if c[0] == case)
    brew.api.add(path, make(brew), last_modified=2e9)
    _assert_refused(brew, dest, sentinel, needles, good_mirror)


@pytest.mark.parametrize("case", [
    pytest.param(c[0], marks=MANIFEST_MARKS.get(c[0], []))
    for c in MANIFEST_CASES])
def test_hostile_oci_manifest_is_refused(brew: FakeHomebrew, case_dir: tuple[Path, Sentinel],
                                         case: str, good_mirror: Path) -> None:
    dest, sentinel = case_dir
    _, change, needles = next(c for c in MANIFEST_CASES if c[0] == case)
    path = _bump_wget(brew)
    brew.manifests[path] = change(brew.manifests[path])
    _assert_refused(brew, dest, sentinel, needles, good_mirror)
