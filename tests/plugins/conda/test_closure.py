"""The closure rule on its own: which records a selection takes, per platform."""

from __future__ import annotations

import pytest

from mirrorkit.api import PlanError
from mirrorkit.plugins.conda.closure import Catalog, select
from mirrorkit.plugins.conda.repodata import PackageRef


def catalog(subdir: str, *records: tuple[str, str, list[str]]) -> Catalog:
    cat = Catalog(subdir)
    for name, version, depends in records:
        filename = f"{name}-{version}-0.conda"
        ref = PackageRef(subdir, filename, "sha256", "0" * 64, 1)
        cat.add(ref, {"name": name, "version": version, "build": "0", "build_number": 0,
                      "depends": depends}, "test")
    return cat


CATALOGS = {
    "linux-64": catalog("linux-64", ("tool", "1.0", ["helper >=2", "__glibc >=2.17"]),
                        ("libc-thing", "1.0", []), ("libc-thing", "2.0", [])),
    "osx-arm64": catalog("osx-arm64", ("tool", "1.0", ["helper"]),
                         ("mac-only", "1.0", [])),
    "noarch": catalog("noarch", ("helper", "1.9", []), ("helper", "2.0", ["libc-thing >=2"]),
                      ("helper", "2.5", ["libc-thing >=2", "mac-only"])),
}


def chosen(specs: list[str], with_deps: bool) -> set[str]:
    sel = select(specs, with_deps, CATALOGS)
    return {c.ref.path for chosen in sel.records.values() for c in chosen.values()}


def test_every_satisfying_version_per_platform_with_noarch() -> None:
    got = chosen(["tool"], with_deps=True)
    assert got == {
        "linux-64/tool-1.0-0.conda", "osx-arm64/tool-1.0-0.conda",
        # linux-64 wants helper >=2 (2.0, 2.5); osx-arm64 takes any helper (1.9 too)
        "noarch/helper-1.9-0.conda", "noarch/helper-2.0-0.conda", "noarch/helper-2.5-0.conda",
        # helper's own needs, resolved on each platform: libc-thing 2 only on linux-64,
        # mac-only only on osx-arm64
        "linux-64/libc-thing-2.0-0.conda", "osx-arm64/mac-only-1.0-0.conda",
    }


def test_without_deps_only_the_matching_records() -> None:
    assert chosen(["helper >=2,<2.5"], with_deps=False) == {"noarch/helper-2.0-0.conda"}


def test_unsatisfied_dependencies_are_reported_not_fatal() -> None:
    sel = select(["helper 2.5"], True, {"noarch": CATALOGS["noarch"]})
    assert "libc-thing >=2" in sel.unsatisfied and "mac-only" in sel.unsatisfied


def test_a_root_matching_nothing_is_an_error() -> None:
    with pytest.raises(PlanError, match="no package matches 'tool >=3'"):
        select(["tool >=3"], True, CATALOGS)
