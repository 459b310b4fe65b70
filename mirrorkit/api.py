"""Everything a mirrorkit plugin imports: registries, sinks, notifiers and their contexts.

Plugin code imports from this module only; the modules behind it may move between releases.
"""

from .core.artifact import Artifact, Kind
from .core.digest import Digest, register_algorithm
from .core.hookspecs import hookimpl
from .core.manifest import FileEntry, Manifest
from .core.plugins import NotifierCollection, RegistryCollection, SinkCollection
from .core.registry import FetchError, PlanContext, PlanError, RegistryPlugin
from .core.report import ArtifactError, RunReport
from .core.sink import SinkContext, SinkError, SinkPlugin
from .core.transport import Auth, BasicAuth, OCIBearerAuth, Response
from .core.verify import VerifyResult

__all__ = [
    "Artifact",
    "ArtifactError",
    "Auth",
    "BasicAuth",
    "Digest",
    "FetchError",
    "FileEntry",
    "Kind",
    "Manifest",
    "NotifierCollection",
    "OCIBearerAuth",
    "PlanContext",
    "PlanError",
    "RegistryCollection",
    "RegistryPlugin",
    "Response",
    "RunReport",
    "SinkCollection",
    "SinkContext",
    "SinkError",
    "SinkPlugin",
    "VerifyResult",
    "hookimpl",
    "register_algorithm",
]
