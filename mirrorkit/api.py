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

import importlib
from typing import TYPE_CHECKING

from .core.bundle.errors import BundleError
from .core.config.cliopts import collect_values, options_for_model
from .core.config.sizes import parse_size
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
from .core.store.manifest import FileEntry, Manifest, ManifestError, load_manifest
from .core.store.previous import PreviousSnapshot
from .core.store.s3.publish_options import S3PublishOptions
from .core.store.verify import VerifyResult
from .core.transport import Auth, BasicAuth, OCIBearerAuth, Response, Validators

if TYPE_CHECKING:
    from .core.bundle.catalog import BundleCatalog, open_bundles
    from .core.bundle.export import export_bundle
    from .core.bundle.importer import import_bundle, plan_import
    from .core.bundle.tocread import TocSummary
    from .core.store.s3.publish import PublishError, publish_mirror
    from .core.store.s3.verify import verify_published

#: Names whose modules are heavy (the tar and TOC machinery, boto3), imported on first use:
#: every mirrorkit command loads every plugin, and a plugin imports this module to declare
#: itself. ``from mirrorkit.api import export_bundle`` inside the command that exports is
#: what loads the machinery.
_ON_FIRST_USE = {
    "BundleCatalog": ".core.bundle.catalog",
    "TocSummary": ".core.bundle.tocread",
    "open_bundles": ".core.bundle.catalog",
    "export_bundle": ".core.bundle.export",
    "import_bundle": ".core.bundle.importer",
    "plan_import": ".core.bundle.importer",
    "PublishError": ".core.store.s3.publish",
    "publish_mirror": ".core.store.s3.publish",
    "verify_published": ".core.store.s3.verify",
}

#: 1: registries, sinks, notifiers, the hooks of docs/plugins.md. 2: this module as the one
#: public module (notifier API in the core, VerifyResult, Manifest, FileEntry, PlannedChange,
#: validate_relpath, register_algorithm), ``mirrorkit.testing``, the transport's ``Auth``
#: protocol (``BasicAuth``, ``OCIBearerAuth``) and ``Response``, ``ctx.note``. 3: plugin state
#: saved with the snapshot (``ctx.state``, ``PluginState``), ``ctx.fetch`` returns ``Fetched``
#: (path, sha256, size, changed), ``ctx.fetch_all``, ``ctx.previous_file``,
#: ``ctx.keep_previous_plan``, conditional ``ctx.get`` (``Validators``), ``FetchError.status``,
#: ``ctx.keep_previous`` into a bucket, ``Artifact`` ``mirrors`` and ``also``; ``ctx.dest`` is
#: gone (a plugin reads the previous snapshot's files with ``ctx.previous_file``); what the
#: built-in sinks and notifiers use, so they import nothing else: bundles (``export_bundle``,
#: ``open_bundles``, ``plan_import``, ``import_bundle``), S3 (``publish_mirror``,
#: ``verify_published``, ``S3PublishOptions``), ``load_manifest``, ``parse_size``, the flags
#: of an options model (``options_for_model``, ``collect_values``), ``NotifyContext.post``.
#: 4: ``ctx.previous`` is a ``PreviousSnapshot`` (``snapshot``, ``created``, ``files`` as a
#: read-only mapping loaded when first needed) instead of a ``Manifest``.
API_REVISION = 4


def _load_on_first_use(name: str) -> object:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __package__), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value


if not TYPE_CHECKING:  # mypy sees the imports above, and still flags a misspelled name
    __getattr__ = _load_on_first_use

__all__ = [
    "API_REVISION",
    "Artifact",
    "ArtifactError",
    "Auth",
    "BasicAuth",
    "BundleCatalog",
    "BundleError",
    "Digest",
    "DigestError",
    "FetchError",
    "Fetched",
    "FileEntry",
    "Kind",
    "Manifest",
    "ManifestError",
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
    "PreviousSnapshot",
    "PublishError",
    "RegistryCollection",
    "RegistryPlugin",
    "Response",
    "RunReport",
    "S3PublishOptions",
    "SinkCollection",
    "SinkContext",
    "SinkError",
    "SinkPlugin",
    "TocSummary",
    "UnsafePathError",
    "Validators",
    "VerifyResult",
    "collect_values",
    "export_bundle",
    "hookimpl",
    "import_bundle",
    "load_manifest",
    "open_bundles",
    "options_for_model",
    "parse_size",
    "plan_import",
    "publish_mirror",
    "register_algorithm",
    "storable_url",
    "usable_url",
    "validate_relpath",
    "verify_published",
]

