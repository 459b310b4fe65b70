"""Fast checks of the pieces brew's behaviour is encoded in (the e2e tests cover the whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorkit.api import PlanError
from mirrorkit.plugins.homebrew.api import parse_formula_list, parse_packages
from mirrorkit.plugins.homebrew.deps import DependencyError, runtime_dependencies
from mirrorkit.plugins.homebrew.jws import read_jws_payload
from mirrorkit.plugins.homebrew.oci import BottleRef, flat_name, image_name, manifest_tag
from mirrorkit.plugins.homebrew.signature import load_api_key
from mirrorkit.plugins.homebrew.tags import KNOWN_TAGS, resolve_bottle_tag
from tests.support.jws_signer import public_key_file, signer

SHA = "a" * 64


def test_known_tags_match_brews_valid_os_arch_tags() -> None:
    assert len(KNOWN_TAGS) == 17
    assert "arm64_catalina" not in KNOWN_TAGS and "catalina" in KNOWN_TAGS


@pytest.mark.parametrize(("tag", "available", "expected"), [
    ("arm64_tahoe", ["arm64_tahoe", "all"], "arm64_tahoe"),
    ("arm64_tahoe", ["arm64_sequoia", "all"], "all"),
    ("arm64_tahoe", ["arm64_sequoia", "arm64_sonoma"], "arm64_sequoia"),
    ("arm64_tahoe", ["sonoma"], None),  # another architecture
    ("sequoia", ["arm64_sequoia", "sonoma"], "sonoma"),
    ("arm64_sonoma", ["arm64_sequoia"], None),  # only newer
    ("x86_64_linux", ["arm64_linux", "sonoma"], None),  # no fallback on Linux
])
def test_resolve_bottle_tag(tag: str, available: list[str], expected: str | None) -> None:
    assert resolve_bottle_tag(tag, available) == expected


def test_oci_names() -> None:
    assert image_name("openssl@3") == "openssl/3"
    assert image_name("libsigc++@2") == "libsigcxx/2"
    assert manifest_tag("1.2_1", 0) == "1.2_1"
    assert manifest_tag("1.2_1", 2) == "1.2_1-2"
    assert flat_name("openssl@3", "3.5.0_1", "arm64_sonoma", 1) == (
        "openssl@3-3.5.0_1.arm64_sonoma.bottle.1.tar.gz")
    assert BottleRef("x", "1.0", 1, "all", SHA).ref_name == "1.0.all.1"


def test_runtime_dependencies_prune_like_a_bottle_install() -> None:
    data = {
        "stable_dependencies": [
            "a", {"b": ":build"}, {"c": [":build", ":test"]}, {"d": ":test"}, {"e": ":optional"},
            {"f": ":recommended"}, ":macos", {":xcode": [":build"]}, "\\:odd",
        ],
        "stable_uses_from_macos": [
            "zlib", ["curl"], ["krb5", {":since": ":sequoia"}],
            [{"m4": ":build", ":since": ":tahoe"}], [{"bzip2": ":build"}],
            ["ncurses", {":since": ":future_os"}],
        ],
    }
    assert runtime_dependencies(data, "x", macos=None) == (
        "a", "f", ":odd", "zlib", "curl", "krb5", "ncurses")
    assert runtime_dependencies(data, "x", macos=(14,)) == ("a", "f", ":odd", "krb5", "ncurses")
    assert runtime_dependencies(data, "x", macos=(15,)) == ("a", "f", ":odd", "ncurses")
    with pytest.raises(DependencyError, match=r"x.stable_dependencies\[0\]"):
        runtime_dependencies({"stable_dependencies": [3]}, "x", macos=None)


def test_older_bottle_decides_uses_from_macos() -> None:
    entry = {"stable_version": "1", "bottle_checksum": SHA, "bottle_tag": ":arm64_sequoia",
             "stable_uses_from_macos": [["krb5", {":since": ":tahoe"}]]}
    index = parse_packages({"formulae": {"x": entry}}, "arm64_tahoe", "p")
    assert index.formulae["x"].deps == ("krb5",)  # built on sequoia: krb5 from Homebrew
    assert index.formulae["x"].bottle_tag == "arm64_sequoia"


def test_parse_packages_is_strict_and_says_where() -> None:
    with pytest.raises(PlanError, match=r"formulae\['x'\]\.bottle_checksum"):
        parse_packages({"formulae": {"x": {"stable_version": "1", "bottle_checksum": "zz"}}},
                       "arm64_tahoe", "p")
    with pytest.raises(PlanError, match=r"metadata\.bottle_tag"):
        parse_packages({"metadata": {"bottle_tag": "sonoma"}, "formulae": {}}, "arm64_tahoe", "p")
    with pytest.raises(PlanError, match=r"formulae\['x'\]\.revision"):
        parse_packages({"formulae": {"x": {"stable_version": "1", "revision": -1}}}, "sonoma", "p")


def test_parse_formula_list() -> None:
    payload = [{"name": "a@1", "versions": {"stable": "1.0"}, "revision": 2,
                "bottle": {"stable": {"rebuild": 1, "files": {"sonoma": {"sha256": SHA}}}}},
               {"name": "headonly", "versions": {"stable": None}, "bottle": {}}]
    out = parse_formula_list(payload, "f")
    assert out["a@1"].pkg_version == "1.0_2" and out["a@1"].files == (("sonoma", SHA),)
    assert "headonly" not in out
    with pytest.raises(PlanError, match=r"f: b.bottle.stable.files"):
        parse_formula_list([{"name": "b", "versions": {"stable": "1"},
                             "bottle": {"stable": {"files": {"../x": {"sha256": SHA}}}}}], "f")


def test_jws_envelope_errors_name_the_file(tmp_path: Path) -> None:
    key = load_api_key(public_key_file())
    path = tmp_path / "f.jws.json"
    path.write_bytes(signer().sign_text("[1]"))
    assert read_jws_payload(path, "U", key) == [1]
    for bad, why in [(b"[]", "top level is list"), (b'{"payload": 1, "signatures": [{}]}',
                                                    "'payload' is not a string"),
                     (b'{"payload": "[]"}', "'signatures'"), (b"{", "invalid JSON"),
                     (signer().sign_text("{"), "payload is not valid JSON")]:
        path.write_bytes(bad)
        with pytest.raises(PlanError, match=r"^U: ") as info:
            read_jws_payload(path, "U", key)
        assert why in str(info.value)
