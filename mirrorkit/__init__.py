"""mirrorkit: mirror software registries for networks that cannot reach the internet.

The names below are the public API for plugin authors; everything else may change.
"""

from .core.artifact import Artifact, Kind
from .core.digest import Digest
from .core.hookspecs import hookimpl
from .core.plugins import RegistryCollection, SinkCollection
from .core.registry import FetchError, PlanContext, PlanError, RegistryPlugin
from .core.report import ArtifactError, RunReport
from .core.sink import SinkContext, SinkError, SinkPlugin

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "ArtifactError",
    "Digest",
    "FetchError",
    "Kind",
    "PlanContext",
    "PlanError",
    "RegistryCollection",
    "RegistryPlugin",
    "RunReport",
    "SinkCollection",
    "SinkContext",
    "SinkError",
    "SinkPlugin",
    "__version__",
    "hookimpl",
]
