"""Every registry from ``pip install mirrorkit-offline``: a wheel, no extras, no checkout.

The rest of the suite runs an editable install with the test extras, which hid that a plain
install could not mirror a conda channel (``zstandard`` was an extra). Here the checkout is
built into a wheel (as ``pip install`` builds it), installed without extras into a fresh
virtual environment with its declared dependencies resolved by pip (from its cache), and
the installed ``mirrorkit`` command mirrors each registry from loopback upstreams: Homebrew,
git, apt, PyPI, conda and the example third-party plugin (installed from its wheel too).
The environment is built once per test session (shared by xdist workers).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.apt.conftest import AptUpstream, World
from tests.plugins.conda.channel import Channel
from tests.plugins.git.conftest import Upstream as GitUpstream
from tests.plugins.homebrew.fake_brew import FakeHomebrew, key_args
from tests.plugins.pypi.fake_pypi import FakePyPI
from tests.support.static_list import index_url, publish
from tests.support.trees import files
from tests.support.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mirrorkit-static-list"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info", ".*")
_EXAMPLE_SKIP = ("__pycache__", "*.pyc", "build", "*.egg-info", "tests")


def _build(home: Path) -> None:
    """Wheels of copies of the sources (a build writes ``build/`` beside them), then a
    venv with those wheels installed by pip, dependencies resolved as for a user."""
    src, example = home / "src", home / "example"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "mirrorkit", src / "mirrorkit", ignore=_SKIP)
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(*_EXAMPLE_SKIP))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir",
                    str(home / "wheels"), str(src), str(example)],
                   check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / "venv")],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*pip, "--python", str(home / "venv" / "bin" / "python"), "install",
                    "--no-compile", *map(str, sorted((home / "wheels").glob("*.whl")))],
                   check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of the plain install."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this session
    home = base / "plain-install"
    home.mkdir(exist_ok=True)
    with open(home / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "ready").exists():
            shutil.rmtree(home / "venv", ignore_errors=True)
            for part in ("src", "example", "wheels"):
                shutil.rmtree(home / part, ignore_errors=True)
            _build(home)
            (home / "ready").touch()
    return home / "venv" / "bin"


def mirrorkit(plain: Path, *args: str | Path, cwd: Path,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``mirrorkit`` command, in a directory away from the checkout."""
    from tests.support.cli import cli_env

    full = {k: v for k, v in cli_env(env).items() if k != "PYTHONPATH"}
    return subprocess.run([str(plain / "mirrorkit"), *map(str, args)], capture_output=True,
                          text=True, env=full, cwd=cwd, timeout=300, check=False)


def test_the_install_is_the_wheel_with_its_dependencies_and_no_extras(
        plain: Path, tmp_path: Path) -> None:
    probe = ("import importlib.util as u, mirrorkit, zstandard, aiohttp, pydantic; "
             "print(mirrorkit.__file__); print(u.find_spec('rattler') is None)")
    out = subprocess.run([str(plain / "python"), "-c", probe], capture_output=True,
                         text=True, cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                         check=True).stdout.split()
    assert out[0].startswith(str(plain.parent)), out  # the venv's copy, not the checkout
    assert out[1] == "True"  # no extras: no py-rattler
    listed = mirrorkit(plain, "plugins", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert {p["name"] for p in json.loads(listed.stdout)} >= {
        "homebrew", "git", "apt", "pypi", "conda", "static-list", "bundle", "s3", "webhook"}


def test_static_list_example_plugin(plain: Path, upstream: Upstream, tmp_path: Path) -> None:
    publish(upstream, {"pool/a.bin": b"a" * 1000, "b.bin": b"b"})
    dest = tmp_path / "m"
    res = mirrorkit(plain, "run", "static-list", "--index-url", index_url(upstream),
                    "--dest", dest, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert files(dest) == {"index.json", "pool/a.bin", "b.bin"}
    assert mirrorkit(plain, "verify", dest, cwd=tmp_path).returncode == 0


def test_homebrew(plain: Path, brew: FakeHomebrew, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirrorkit(plain, "run", "homebrew", "--api-url", f"{brew.api.url}/api",
                    "--registry-url", f"{brew.api.url}/v2/homebrew/core",
                    "--tag", "arm64_sequoia", "--formula", "hello", "--dest", dest, "--json",
                    *key_args(), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert any(p.startswith("v2/homebrew/core/hello/blobs/sha256:") for p in files(dest))
    assert (dest / "api" / "formula.jws.json").is_file()


def test_git(plain: Path, upstream_git: GitUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "m.git"
    res = mirrorkit(plain, "run", "git", "--url", upstream_git.url, "--dest", dest,
                    cwd=tmp_path, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    clone = subprocess.run(["git", "clone", "-q", str(dest), str(tmp_path / "clone")],
                           capture_output=True, text=True, check=False)
    assert clone.returncode == 0, clone.stderr
    assert (tmp_path / "clone" / "README").read_bytes() == b"hello\n"


def test_apt(plain: Path, world: World, apt_up: AptUpstream, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirrorkit(plain, "run", "apt", "--url", f"{apt_up.url}/debian", "--suite", "stable",
                    "--component", "main", "--arch", "amd64", "--keyring", world.key.keyring,
                    "--dest", dest, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (dest / "dists/stable/InRelease").is_file()
    assert (dest / "pool/main/h/hello/hello_1.0_amd64.deb").is_file()


def test_pypi(plain: Path, pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirrorkit(plain, "run", "pypi", "--index-url", pypi.index_url, "--package", "alpha",
                    "--with-deps", "--python-version", "3.11", "--dest", dest, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    names = {p.rsplit("/", 1)[1] for p in files(dest) if p.startswith("packages/")}
    assert "alpha-2.0-py3-none-any.whl" in names and "zeta-1.0-py3-none-any.whl" in names
    assert (dest / "simple" / "alpha" / "index.html").is_file()


def test_conda_whole_subdirs_with_zst_and_a_selection_that_needs_the_extra(
        plain: Path, channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    res = mirrorkit(plain, "run", "conda", "--channel-url", channel.url, "--subdir",
                    "linux-64", "--dest", dest, cwd=tmp_path)
    assert res.returncode == 0, res.stderr  # every subdir failed on its .zst before
    assert (dest / "linux-64" / "repodata.json.zst").read_bytes() == \
        channel.upstream.files["/chan/linux-64/repodata.json.zst"].body
    # a selective mirror needs py-rattler (the conda extra): said in one line
    sel = mirrorkit(plain, "run", "conda", "--channel-url", channel.url, "--subdir",
                    "linux-64", "--package", "app",
                    "--dest", tmp_path / "sel", cwd=tmp_path)
    assert sel.returncode == 2, sel.stderr
    lines = [ln for ln in sel.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "needs the Python module 'rattler' (py-rattler)" in lines[0]
    assert "pip install 'mirrorkit-offline[conda]'" in lines[0]
