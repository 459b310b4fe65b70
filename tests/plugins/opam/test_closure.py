"""Versions in opam's order, and formulas read for every version some client could take."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from mirrorkit.api import PlanError
from mirrorkit.plugins.opam.closure import select
from mirrorkit.plugins.opam.formula import atoms, may_accept
from mirrorkit.plugins.opam.index import Catalog, VersionDir
from mirrorkit.plugins.opam.opamfile import read_opam
from mirrorkit.plugins.opam.syntax import Field, parse_file
from mirrorkit.plugins.opam.version import compare_versions, version_key
from tests.plugins.opam.conftest import opam_required

# each sorts before the next, as opam sorts them (checked against opam itself below)
ORDERED = ["0.9", "1~~", "1~", "1", "1-1", "1.0~beta", "1.0", "1.0-1", "1.0a", "1.0+dev",
           "1.0.0", "1.0.1", "1.0_1", "1.1", "2~rc1", "2", "9", "10", "a", "v2"]


def test_version_order() -> None:
    assert sorted(ORDERED, key=version_key) == ORDERED
    assert compare_versions("1.01", "1.1") == 0  # numbers compare as numbers
    assert compare_versions("1.0~beta", "1.0") < 0 < compare_versions("1.0", "1.0~beta")


def test_version_order_is_the_one_opam_uses(tmp_path: Path) -> None:
    opam_required()
    repo = tmp_path / "repo"
    for version in ORDERED:
        d = repo / "packages" / "v" / f"v.{version}"
        d.mkdir(parents=True)
        (d / "opam").write_text('opam-version: "2.0"\n')
    (repo / "repo").write_text('opam-version: "2.0"\n')
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPAM")},
           "OPAMROOT": str(tmp_path / "root"), "HOME": str(tmp_path), "OPAMYES": "1",
           "OPAMCOLOR": "never"}
    subprocess.run(["opam", "init", "--bare", "-n", "--disable-sandboxing", "local", str(repo)],
                   env=env, check=True, capture_output=True, timeout=120)
    shown = subprocess.run(["opam", "show", "v", "--field", "all-versions"], env=env,
                           check=True, capture_output=True, text=True, timeout=60)
    assert shown.stdout.split() == sorted(ORDERED, key=version_key)


def constraint(text: str) -> tuple[object, ...]:
    (item,) = parse_file(f"depends: [ {text} ]")
    assert isinstance(item, Field)
    ((_, options),) = list(atoms(item.value))
    return options


@pytest.mark.parametrize(("text", "taken", "left"), [
    ('"a" {>= "1.0" & < "2.0"}', ["1.0", "1.5"], ["0.9", "2.0"]),
    ('"a" {>= "1.0" & with-test}', ["1.0", "2.0"], ["0.9"]),  # a filter may hold
    ('"a" {< "1.0" | os = "linux"}', ["0.9", "3.0"], []),  # so may the other side
    ('"a" {!(>= "2.0")}', ["1.9"], ["2.0"]),
    ('"a" {= version}', ["1.5"], ["1.4", "1.6"]),  # the depending package's own version
    ('"a" {= "%{version}%"}', ["1.5"], ["1.4"]),
    ('"a" {= b:version}', ["1.4", "1.6"], []),  # another's version: unknown, so any
    ('"a" {build & != "1.2"}', ["1.1"], ["1.2"]),
    ('"a" {?x & > "1"}', ["2"], ["1"]),
])
def test_constraints_over_include(text: str, taken: list[str], left: list[str]) -> None:
    options = constraint(text)
    for version in taken:
        assert may_accept(options, version, "1.5"), (text, version)  # type: ignore[arg-type]
    for version in left:
        assert not may_accept(options, version, "1.5"), (text, version)  # type: ignore[arg-type]


def catalog(packages: dict[str, str]) -> Catalog:
    """A catalog of ``NAME.VERSION -> depends text``."""
    cat = Catalog()
    for label, depends in packages.items():
        name, version = label.split(".", 1)
        text = f'opam-version: "2.0"\ndepends: [ {depends} ]\n'.encode()
        vd = VersionDir(name, version, f"packages/{name}/{label}", text)
        cat.versions.append(vd)
        cat.by_name.setdefault(name, []).append(vd)
    return cat


def parse(vd: VersionDir) -> object:
    return read_opam(vd.opam.decode())


def test_closure_follows_every_alternative_and_every_satisfying_version() -> None:
    cat = catalog({
        "app.1.0": '("ssl" | "tls" {>= "2"}) "core" {= version} "ocaml" {>= "4.14"}',
        "ssl.1.0": "", "tls.1.0": "", "tls.2.0": '"absent-dep"',
        "core.1.0": "", "core.2.0": "",
        "ocaml.4.14.0": "", "ocaml.5.1.0": "", "ocaml.4.02.0": "",
        "unrelated.1.0": "",
    })
    chosen = select(["app"], True, False, cat, parse)  # type: ignore[arg-type]
    assert {vd.label for vd in chosen.versions.values()} == {
        "app.1.0", "ssl.1.0", "tls.2.0", "core.1.0", "ocaml.4.14.0", "ocaml.5.1.0"}
    assert chosen.unsatisfied == {"absent-dep"}
    alone = select(["core.2.0"], True, False, cat, parse)  # type: ignore[arg-type]
    assert [vd.label for vd in alone.versions.values()] == ["core.2.0"]
    with pytest.raises(PlanError, match=re.escape("no package 'core.3.0'")):
        select(["core.3.0"], True, False, cat, parse)  # type: ignore[arg-type]
