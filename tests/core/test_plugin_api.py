"""The plugin API is a product: one public module, pinned, typed, loaded through pluggy."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import mirrorkit.api
from mirrorkit.core.plugin import hookspecs
from tests.support.cli import run_cli
from tests.support.plugin_dist import plugin_env

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"

#: The public plugin API, exactly. A name added to mirrorkit.api is added here (and to
#: docs/plugins.md); a name removed breaks every plugin that used it.
PUBLIC_API = [
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
    "PluginState",
    "PlannedChange",
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


def hook_names() -> list[str]:
    return [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
            if name.startswith("mirrorkit_")]


def test_every_hook_is_documented_for_plugin_authors() -> None:
    text = DOCS.read_text()
    missing = [name for name in hook_names() if f"### {name}" not in text]
    assert missing == [], f"hooks without a section in docs/plugins.md: {missing}"


def test_every_hook_has_a_docstring() -> None:
    assert all(getattr(hookspecs, n).__doc__ for n in hook_names())


def test_public_api_is_pinned() -> None:
    assert sorted(mirrorkit.api.__all__) == sorted(PUBLIC_API)
    for name in PUBLIC_API:
        assert getattr(mirrorkit.api, name) is not None


def test_every_type_in_a_hook_signature_is_public() -> None:
    """A plugin can annotate every hook it implements with names from mirrorkit.api."""
    public = set(PUBLIC_API)
    for name in hook_names():
        for param in inspect.signature(getattr(hookspecs, name)).parameters.values():
            annotation = str(param.annotation).split(" | ")[0]
            if annotation not in ("Path", "str", "bool", "click.Group"):
                assert annotation in public, f"{name}({param.name}: {annotation})"


def test_docs_import_only_the_public_module() -> None:
    text = DOCS.read_text()
    imports = [line.strip() for line in text.splitlines()
               if line.strip().startswith(("from mirrorkit", "import mirrorkit"))]
    assert imports, "docs/plugins.md shows no imports"
    allowed = ("from mirrorkit.api import", "from mirrorkit.testing import")
    assert [line for line in imports if not line.startswith(allowed)] == []


def test_py_typed_is_shipped_as_package_data() -> None:
    root = Path(mirrorkit.api.__file__).parent
    assert (root / "py.typed").is_file()
    pyproject = (root.parent / "pyproject.toml").read_text()
    assert '"py.typed"' in pyproject


MISSPELLED = textwrap.dedent('''
    from mirrorkit.api import RegistryCollection, hookimpl

    @hookimpl
    def mirrorkit_add_registry(registries: RegistryCollection) -> None:
        pass
''')


def test_misspelled_hookimpl_is_an_error_naming_it(tmp_path: Path) -> None:
    env = plugin_env(tmp_path / "site", "typo_plugin", MISSPELLED, entry_point="typo")
    for args in (("plugins",), ("run", "static-list", "--help"), ("verify", str(tmp_path))):
        res = run_cli(*args, env=env)
        assert res.code == 2, (args, res.stderr)
        assert "mirrorkit_add_registry" in res.stderr
        assert "did you mean 'mirrorkit_add_registries'" in res.stderr
        assert "mirrorkit-test-plugin" in res.stderr  # which distribution to blame
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_an_environment_variable_disables_named_plugins(tmp_path: Path) -> None:
    env = plugin_env(tmp_path / "site", "typo_plugin", MISSPELLED, entry_point="typo")
    env["MIRRORKIT_DISABLE_PLUGINS"] = "typo, git"
    res = run_cli("plugins", "--json", env=env)
    assert res.code == 0, res.stderr
    names = {row["name"] for row in res.json}
    assert "homebrew" in names and "static-list" in names
    assert "git" not in names and "git-tree" not in names


def test_plugins_can_check_the_api_revision() -> None:
    assert isinstance(mirrorkit.api.API_REVISION, int)
    assert mirrorkit.api.API_REVISION >= 4
    assert "API_REVISION" in DOCS.read_text()
