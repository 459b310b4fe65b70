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
from .core.plan.registry import Fetched, FetchError, PlanContext, PlanError, RegistryPlugin
from .core.plan.state import PluginState
from .core.plugin.hookspecs import hookimpl
from .core.plugin.host import NotifierCollection, RegistryCollection, SinkCollection
from .core.plugin.notifier import NotifierPlugin, NotifyContext, NotifyError, NotifyWhen
from .core.plugin.sink import SinkContext, SinkError, SinkPlugin
from .core.redact import storable_url, usable_url
from .core.run.report import ArtifactError, PlannedChange, RunReport
from .core.store.manifest import FileEntry, Manifest
from .core.store.verify import VerifyResult
from .core.transport import Auth, BasicAuth, OCIBearerAuth, Response, Validators

#: 1: registries, sinks, notifiers, the hooks of docs/plugins.md. 2: this module as the one
#: public module (notifier API in the core, VerifyResult, Manifest, FileEntry, PlannedChange,
#: validate_relpath, register_algorithm), ``mirrorkit.testing``, the transport's ``Auth``
#: protocol (``BasicAuth``, ``OCIBearerAuth``) and ``Response``, ``ctx.note``. 3: plugin state
#: saved with the snapshot (``ctx.state``, ``PluginState``), ``ctx.fetch`` returns ``Fetched``
#: (path, sha256, size, changed), ``ctx.fetch_all``, ``ctx.previous_file``,
#: ``ctx.keep_previous_plan``, conditional ``ctx.get`` (``Validators``), ``FetchError.status``,
#: ``ctx.keep_previous`` into a bucket, ``Artifact`` ``mirrors`` and ``also``; ``ctx.dest`` is
#: gone (a plugin reads the previous snapshot's files with ``ctx.previous_file``).
API_REVISION = 3

__all__ = [
    "API_REVISION",
    "Artifact",
    "ArtifactError",
    "Auth",
    "BasicAuth",
    "Digest",
    "DigestError",
    "FetchError",
    "Fetched",
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
    "PluginState",
    "RegistryCollection",
    "RegistryPlugin",
    "Response",
    "RunReport",
    "SinkCollection",
    "SinkContext",
    "SinkError",
    "SinkPlugin",
    "UnsafePathError",
    "Validators",
    "VerifyResult",
    "hookimpl",
    "register_algorithm",
    "storable_url",
    "usable_url",
    "validate_relpath",
]

