"""Installing: the distribution has its own name, and nothing tells users to install another.

The PyPI project ``mirrorkit`` is unrelated to this one; a doc saying ``pip install mirrorkit``
would hand every reader someone else's code.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OWN = PYPROJECT["project"]["name"]
#: what the docs may install besides our own distribution: our optional dependencies
DEPENDENCIES = {re.split(r"[<>=\[ ;]", d)[0].lower()
                for group in PYPROJECT["project"]["optional-dependencies"].values()
                for d in group}

PIP_INSTALL = re.compile(r"pip3?\s+install\s+([^`\n|;&\"),]*)")


def _documents() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += [p for p in sorted((ROOT / "examples").rglob("*")) if p.is_file()
              and "build" not in p.parts and p.suffix not in (".pyc",)]
    files += [ROOT / "mirrorkit" / "sinks" / "bundle" / "commands.py"]
    return files


def _installed_names(args: str) -> list[str]:
    """Distribution names in the arguments of one ``pip install`` (paths and flags skipped).

    An install that names its index (``--index-url``/``-i``) is a client of a mirror made
    by mirrorkit (docs/pypi.md), not advice on installing a distribution from PyPI.
    """
    if re.search(r"(^|\s)(--index-url|-i)(\s|=)", args):
        return []
    names = []
    for token in args.split():
        token = token.strip("'\"")
        if not token or token.startswith("-") or token.startswith((".", "/", "<", "~")):
            continue
        if "/" in token or token in ("your-plugin", "your-plugin.whl"):
            continue
        name = re.match(r"[A-Za-z0-9._-]*", token)
        if name and name.group(0):
            names.append(name.group(0).lower())
    return names


def test_the_distribution_name_is_not_the_unrelated_pypi_project() -> None:
    assert OWN != "mirrorkit"
    assert PYPROJECT["project"]["scripts"]["mirrorkit"] == "mirrorkit.launch:main"


def test_the_example_plugin_depends_on_our_distribution() -> None:
    example = tomllib.loads((ROOT / "examples/mirrorkit-static-list/pyproject.toml").read_text())
    deps = [re.split(r"[<>=\[ ;]", d)[0] for d in example["project"]["dependencies"]]
    assert OWN in deps and "mirrorkit" not in deps


def test_no_doc_or_example_installs_another_distribution() -> None:
    wrong = []
    for path in _documents():
        for match in PIP_INSTALL.finditer(path.read_text(errors="replace")):
            for name in _installed_names(match.group(1)):
                if name != OWN and name not in DEPENDENCIES:
                    wrong.append(f"{path.relative_to(ROOT)}: pip install {match.group(1)}")
    assert wrong == []


def test_the_check_itself_catches_the_old_advice() -> None:
    assert _installed_names("mirrorkit") == ["mirrorkit"]
    assert _installed_names("'mirrorkit[zstd]'") == ["mirrorkit"]
    assert _installed_names("-e . -e examples/mirrorkit-static-list") == []
    assert _installed_names("--index-url http://mirror/simple/ requests") == []
    assert _installed_names("requests") == ["requests"]
