"""mirrorkit: mirror software registries for networks that cannot reach the internet.

Plugins import from :mod:`mirrorkit.api`; programs that run mirrors call
:func:`mirrorkit.core.run.pipeline.run_mirror` (also here as ``mirrorkit.run_mirror``). This
module stays import-light: the command line imports it first, before anything else.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "run_mirror", "run_mirror_sync"]


def __getattr__(name: str) -> Any:
    if name in ("run_mirror", "run_mirror_sync"):
        from .core.run import pipeline

        return getattr(pipeline, name)
    # the plugin API's names, for plugins written before mirrorkit.api existed
    from . import api

    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'mirrorkit' has no attribute {name!r}")
