"""The public plugin API: everything a registry, sink or notifier plugin imports.

Plugin code imports from this module only; the modules behind it may move between releases,
these names stay. Every type a hook receives or a context hands out is here, and the package
ships ``py.typed``, so a plugin type-checks (``mypy --strict``) against an installed mirrorkit.

``API_REVISION`` grows by one whenever a name is added here or a hook gains a feature; a
plugin that needs something recent checks it at import time::

    from mirrorkit.api import API_REVISION
    if API_REVISION < 2:
        raise ImportError("this plugin needs mirrorkit with plugin API revision 2 or later")
"""

from __future__ import annotations

from .core.plan.artifact import Artifact, Kind
from .core.plan.digest import Digest, DigestError, register_algorithm
from .core.plan.paths import UnsafePathError, validate_relpath
from .core.plan.registry import FetchError, PlanContext, PlanError, RegistryPlugin
from .core.plugin.hookspecs import hookimpl
from .core.plugin.host import NotifierCollection, RegistryCollection, SinkCollection
from .core.plugin.notifier import NotifierPlugin, NotifyContext, NotifyError, NotifyWhen
from .core.plugin.sink import SinkContext, SinkError, SinkPlugin
from .core.redact import storable_url, usable_url
from .core.run.report import ArtifactError, PlannedChange, RunReport
from .core.store.manifest import FileEntry, Manifest
from .core.store.verify import VerifyResult
from .core.transport import Auth, BasicAuth, OCIBearerAuth, Response

#: 1: registries, sinks, notifiers, the hooks of docs/plugins.md. 2: this module as the one
#: public module (notifier API in the core, VerifyResult, Manifest, FileEntry, PlannedChange,
#: validate_relpath, register_algorithm), ``mirrorkit.testing``, the transport's ``Auth``
#: protocol (``BasicAuth``, ``OCIBearerAuth``) and ``Response``, ``ctx.note``.
API_REVISION = 2

__all__ = [
    "API_REVISION",
    "Artifact",
    "ArtifactError",
    "Auth",
    "BasicAuth",
    "Digest",
    "DigestError",
    "FetchError",
    "FileEntry",
    "Kind",
    "Manifest",
    "NotifierCollection",
    "NotifierPlugin",
    "NotifyContext",
    "NotifyError",
    "NotifyWhen",
    "OCIBearerAuth",
    "PlanContext",
    "PlanError",
    "PlannedChange",
    "RegistryCollection",
    "RegistryPlugin",
    "Response",
    "RunReport",
    "SinkCollection",
    "SinkContext",
    "SinkError",
    "SinkPlugin",
    "UnsafePathError",
    "VerifyResult",
    "hookimpl",
    "register_algorithm",
    "storable_url",
    "usable_url",
    "validate_relpath",
]

