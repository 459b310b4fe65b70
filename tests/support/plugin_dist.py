"""A third-party plugin "installed" for one subprocess: a module and its ``.dist-info``.

importlib.metadata finds a distribution through any ``*.dist-info`` directory on
``sys.path``, so putting one on ``PYTHONPATH`` is how pip's install looks to mirrorkit's
plugin loader, without touching the test environment.
"""

from __future__ import annotations

import os
from pathlib import Path


def plugin_env(root: Path, module: str, source: str, *, entry_point: str | None = None,
               dist: str = "mirrorkit-test-plugin") -> dict[str, str]:
    """Write ``module`` with ``source`` and a distribution naming it as a mirrorkit entry
    point; returns the environment for ``run_cli(..., env=...)``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[mirrorkit]\n{entry_point or module} = {module}\n")
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(root) + (os.pathsep + path if path else "")}
