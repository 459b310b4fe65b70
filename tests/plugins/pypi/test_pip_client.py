"""pip, unmodified, installs from the mirror served by a plain static server (the standard
library's, as ``python -m http.server``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.plugins.pypi.fake_pypi import FakePyPI
from tests.plugins.pypi.test_pypi_e2e import mirror
from tests.support.static_server import serve_directory


def pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and not k.lower().endswith("_proxy")}
    # the machine's global pip configuration names local wheel directories: ignore it
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               NO_PROXY="127.0.0.1")
    return env


def test_pip_installs_a_package_and_its_dependencies_from_the_mirror(
        pypi: FakePyPI, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    res = mirror(pypi, dest, "--package", "alpha", "--with-deps", "--python-version", py)
    assert res.code == 0, res.stderr
    pypi.up.stop()  # everything below comes from the mirror alone
    target = tmp_path / "site"
    with serve_directory(dest) as site:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target",
             str(target), "--index-url", f"{site.url}/simple/", "alpha"],
            capture_output=True, text=True, env=pip_env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = subprocess.run(
        [sys.executable, "-c", "import alpha, beta, zeta, eta; "
         "print(alpha.VERSION, beta.VERSION, zeta.VERSION, eta.VERSION)"],
        capture_output=True, text=True, env={**pip_env(), "PYTHONPATH": str(target)},
        cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # alpha's newest, and what pip resolves for it on this Python from the mirror
    assert out.stdout.split() == ["2.0", "1.5", "1.0", "1.0"]
