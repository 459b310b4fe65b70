"""The configuration: engine settings, mirrors, sinks; from TOML or from the command line.

Both forms end in the same pydantic models, so a key means the same thing in
``mirrors.toml`` and as a flag. Errors are collected and printed one line per problem,
each with its key path, because an operator fixing a config wants all of them at once.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FilePath,
    ValidationError,
    model_validator,
)

from ..plugin.host import PluginError, PluginHost
from ..redact import PUBLIC_ENV_NAMES, redact, register_secrets, register_url_secrets
from .sizes import Size

if TYPE_CHECKING:
    from ..run.shards import ShardSpec

__all__ = [
    "ConfigError",
    "EngineSettings",
    "MirrorConfig",
    "MirrorsFile",
    "NotifyConfig",
    "SinkConfig",
    "format_validation_error",
    "load_config",
]


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _count_or_auto(value: Any) -> Any:
    """``auto`` or a whole number from 1 to 1024 (from TOML or a flag's text): one error."""
    if value == "auto":
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024:
        return value
    raise ValueError("must be 'auto' or a whole number from 1 to 1024")


_Count = Annotated[int | Literal["auto"], BeforeValidator(_count_or_auto)]


class EngineSettings(BaseModel):
    """How the core fetches and commits; the same for every registry."""

    model_config = ConfigDict(extra="forbid")

    concurrency: _Count = Field(
        "auto", description="Requests in flight at once: 'auto' (up to 256, each host finding "
        "its own level) or a number (the cap).", json_schema_extra={"metavar": "N|auto"})
    per_host: _Count = Field(
        "auto", description="Requests in flight per host: 'auto' (adapts between 1 and 64 to "
        "what the host answers) or a number (pinned).", json_schema_extra={"metavar": "N|auto"})
    retries: int = Field(5, ge=0, le=100, description="Retries per file after the first try.")
    backoff_initial: float = Field(
        0.5, ge=0, le=600, description="First retry wait in seconds (doubles, with jitter)."
    )
    backoff_max: float = Field(
        30.0, ge=0, le=3600, description="Longest wait between retries, in seconds.")
    max_retry_after: float = Field(
        300.0, ge=0, le=86400, description="Cap on a server's Retry-After, in seconds."
    )
    timeout: float = Field(
        15.0, gt=0, le=3600, description="Seconds without data (or to connect) before a "
        "retry; two such timeouts end the file's tries.")
    max_index_bytes: int = Field(
        2 * 1024**3, ge=1, description="Largest index file (of unknown size) accepted, in "
        "bytes, after decompression; a plugin may set another cap per file.")
    min_rate: float = Field(
        1024.0, ge=0, description="Bytes per second a body must average (after its first "
        "min_rate_window seconds) or it is abandoned and retried; 0 turns the check off.")
    min_rate_window: float = Field(
        30.0, gt=0, le=3600, description="Seconds over which min_rate is averaged.")
    bandwidth_limit: Size | None = Field(
        None, gt=0, description="Most bytes per second the whole run receives, over every "
        "host and file (e.g. 10MiB, 500KB); unset: no limit.",
        json_schema_extra={"metavar": "SIZE"})
    allow_partial: bool = Field(
        False, description="Commit the index even when some files failed (status 'partial')."
    )
    prune_grace: float = Field(
        0.0, ge=0, description="Seconds a stale file is kept after it left the index."
    )
    ca_bundle: FilePath | None = Field(
        None, description="PEM file of CA certificates to trust (checked before the run).")
    lock_wait: float = Field(
        3600.0, ge=0, le=86400, description="Seconds a run waits for the mirror's lock held by "
        "an export, publish, import or verify (another run of the mirror stops it at once)."
    )
    lock_lease: float = Field(
        300.0, ge=1, le=86400, description="Seconds a run into s3:// holds the bucket's lock "
        "without renewing it (it renews every third of that); a killed run's lock is taken "
        "over once this has passed.")
    shard: str | None = Field(
        None, description="Run as one of N workers of one run into an s3:// dest: 'I/N' "
        "(this worker's index and the count) or 'auto' (the index from JOB_COMPLETION_INDEX "
        "or AWS_BATCH_JOB_ARRAY_INDEX, the count from --shards). Each worker plans in full, "
        "downloads its share of the files, and the last one to finish commits.",
        json_schema_extra={"metavar": "I/N|auto"})
    shards: int | None = Field(
        None, ge=1, le=4096, description="How many workers a --shard auto run has.")
    keep_snapshots: int = Field(
        8, ge=1, le=1000, description="Snapshot manifests kept for bundle deltas."
    )
    metrics_file: Path | None = Field(
        None, description="Prometheus text file (node_exporter textfile collector) to update "
        "with this mirror's run metrics."
    )


    @model_validator(mode="after")
    def _shard_spec(self) -> EngineSettings:
        if self.shard is not None:
            from ..run.shards import ShardSpec

            ShardSpec.parse(self.shard, self.shards)  # a ValueError: a problem of shard
        elif self.shards is not None:
            raise ValueError("shards is the worker count of a --shard auto run: give shard")
        return self

    def shard_spec(self) -> ShardSpec | None:
        """This worker's share of a sharded run, or None."""
        from ..run.shards import ShardSpec

        return None if self.shard is None else ShardSpec.parse(self.shard, self.shards)


class SinkConfig(BaseModel):
    """A sink entry: ``type`` picks the sink plugin, the other keys are its options."""

    model_config = ConfigDict(extra="allow")
    type: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NotifyConfig(BaseModel):
    """A ``[[mirrors.notify]]`` entry: ``type`` picks the notifier, ``on`` when it fires."""

    model_config = ConfigDict(extra="allow")
    type: str
    on: Literal["failure", "success", "always"] = "failure"

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


RESERVED_MIRROR_KEYS = {"name", "registry", "dest", "settings", "sinks", "notify"}


class MirrorConfig(BaseModel):
    """One mirror: reserved keys here, every other key goes to the registry's options."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    registry: str
    dest: Path = Path("./mirror")
    # dest = "s3://bucket/prefix": the mirror lives in the bucket, with no local tree
    dest_url: str | None = None
    settings: EngineSettings = Field(default_factory=lambda: EngineSettings())
    sinks: list[SinkConfig] = Field(default_factory=list)
    notify: list[NotifyConfig] = Field(default_factory=list)
    options: Any = None  # the registry's validated Options instance, filled by load_config

    @model_validator(mode="before")
    @classmethod
    def _s3_dest(cls, data: Any) -> Any:
        dest = data.get("dest") if isinstance(data, dict) else None
        if isinstance(dest, str) and dest.startswith("s3://"):
            from ..store.s3.target import S3Target  # parsing only: no boto3

            S3Target.parse(dest)  # a ValueError: reported as a problem of dest
            if data.get("sinks"):
                raise ValueError("sinks publish a local mirror; with an s3:// dest the mirror "
                                 "is already in the bucket (drop the sinks)")
            data = {**data, "dest_url": dest, "dest": Path(dest)}
        return data


class MirrorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] = Field(default_factory=dict)
    mirrors: list[dict[str, Any]] = Field(min_length=1)


def format_validation_error(exc: ValidationError, prefix: str = "",
                            root: str = "<root>") -> list[str]:
    """One line per error, ``key.path: message``; ``root`` names what an error of the model
    as a whole is about (a mirror's model validator checks its dest)."""
    lines = []
    for err in exc.errors():
        loc = prefix
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:
            loc += f".{root}" if loc else root
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        shown = err.get("input")
        if (err["type"] not in ("missing", "extra_forbidden")
                and isinstance(shown, str | int | float | bool) and not _looks_secret(loc)):
            msg += f" (got {redact(repr(shown))})"
        lines.append(f"{loc or '<root>'}: {msg}")
    return lines


def _looks_secret(key: str) -> bool:
    return bool(re.search(r"(token|secret|password|key)", key, re.I))


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any, where: str, problems: list[str],
                refs: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` (a whole string or part of one, as in ``"Bearer ${TOKEN}"``) with
    the variable's value, so secrets stay out of files; ``refs`` maps each value back to its
    reference, so that error messages can quote the reference instead of the secret.
    """
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            env = os.environ.get(m.group(1))
            if env is None:
                problems.append(f"{where}: environment variable {m.group(1)} is not set")
                return m.group(0)
            if refs is not None and len(env) >= 6:  # shorter values are no secrets, and
                refs[env] = m.group(0)  # would be replaced inside unrelated words
            return env
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}", problems, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", problems, refs) for i, v in enumerate(value)]
    return value


def _register_url_secrets(value: Any) -> None:
    """The credentials in every URL of an entry (options, sinks, notifiers) are secrets."""
    if isinstance(value, str):
        if "://" in value:
            register_url_secrets(value)
    elif isinstance(value, dict):
        for item in value.values():
            _register_url_secrets(item)
    elif isinstance(value, list):
        for item in value:
            _register_url_secrets(item)


def _unexpand(lines: list[str], refs: dict[str, str]) -> list[str]:
    """Error lines with every expanded value shown as its ``${VAR}`` again (never the secret)."""
    for value, ref in sorted(refs.items(), key=lambda kv: len(kv[0]), reverse=True):
        lines = [line.replace(value, ref) for line in lines]
    return lines


def _check_typed_entries(raw: dict[str, Any], key: str, plugins: Any, where: str,
                         own_keys: tuple[str, ...]) -> list[str]:
    """Validate ``[[mirrors.<key>]]`` entries (sinks, notifiers) against their plugin's model."""
    problems: list[str] = []
    for i, entry in enumerate(raw.get(key) or []):
        at = f"{where}.{key}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            continue  # reported by the MirrorConfig validation
        try:
            reg = plugins.get(entry["type"])
        except PluginError as exc:
            problems.append(f"{at}.type: {exc}")
            continue
        try:
            reg.cls.Options.model_validate({k: v for k, v in entry.items() if k not in own_keys})
        except ValidationError as exc:
            problems.extend(format_validation_error(exc, at))
    return problems


def _list_flag_aliases(model: type[BaseModel]) -> dict[str, str]:
    """The flag spelling of each list key (``tag`` for ``tags``): refused as a key, with a hint.

    The rule on both sides: a list is plural as a key (it holds many) and singular as a flag
    (each flag gives one value; repeat it).
    """
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        cli = extra.get("cli")
        if isinstance(cli, str) and cli.startswith("--"):
            alias = cli[2:].replace("-", "_")
            if alias != name:
                out[alias] = name
    return out


def did_you_mean(lines: list[str], known: list[str], aliases: dict[str, str]) -> list[str]:
    """Add "did you mean" to each "unknown key" line, from the keys that exist here."""
    out = []
    for line in lines:
        loc, sep, msg = line.rpartition(": ")
        if sep and msg == "unknown key":
            key = loc.rsplit(".", 1)[-1]
            hint = aliases.get(key) or next(iter(difflib.get_close_matches(key, known, n=1)),
                                            None)
            if hint is not None and hint != key:
                line += f" (did you mean {hint!r}?)"
        out.append(line)
    return out


def build_mirror(
    raw: dict[str, Any], host: PluginHost, *, where: str, defaults: dict[str, Any] | None = None,
    base_dir: Path | None = None,
) -> MirrorConfig:
    """Validate one mirror entry (core keys, then the registry's options, then sinks)."""
    problems: list[str] = []
    refs: dict[str, str] = {}
    raw = _expand_env(raw, where, problems, refs)
    register_secrets({v: ref for v, ref in refs.items() if ref[2:-1] not in PUBLIC_ENV_NAMES})
    _register_url_secrets(raw)
    registry = raw.get("registry")
    reg: Any = None
    if isinstance(registry, str):
        try:
            reg = host.registries.get(registry)
        except PluginError as exc:
            problems.append(f"{where + '.' if where else ''}registry: {exc}")
    option_keys = set(reg.cls.Options.model_fields) if reg is not None else set()
    # engine settings may also be given as keys of the mirror itself, as flags are
    own_settings = raw.get("settings") or {}
    flat = {k: v for k, v in raw.items()
            if k in EngineSettings.model_fields and k not in option_keys
            and k not in RESERVED_MIRROR_KEYS}
    if flat and isinstance(own_settings, dict):
        for key in sorted(set(flat) & set(own_settings)):
            problems.append(f"{where + '.' if where else ''}{key}: given twice "
                            f"(also as settings.{key})")
        own_settings = {**own_settings, **flat}
    raw = {k: v for k, v in raw.items() if k not in flat}
    settings = ({**(defaults or {}), **own_settings} if isinstance(own_settings, dict)
                else own_settings)
    core_raw = {k: v for k, v in raw.items() if k in RESERVED_MIRROR_KEYS}
    core_raw["settings"] = settings
    if "name" not in core_raw and isinstance(raw.get("registry"), str):
        core_raw["name"] = raw["registry"]
    mirror: MirrorConfig | None = None
    try:
        mirror = MirrorConfig.model_validate(core_raw)
    except ValidationError as exc:
        problems.extend(did_you_mean(format_validation_error(exc, where, root="dest"),
                                     sorted(EngineSettings.model_fields), {}))
    if mirror is not None and mirror.settings.shard is not None and mirror.dest_url is None:
        problems.append(f"{where + '.' if where else ''}shard: the workers of a sharded run "
                        "share a bucket: give an s3://bucket/prefix dest")
    options: Any = None
    if reg is not None:
        opts_raw = {k: v for k, v in raw.items() if k not in RESERVED_MIRROR_KEYS}
        try:
            options = reg.cls.Options.model_validate(opts_raw)
        except ValidationError as exc:
            known = sorted({*option_keys, *RESERVED_MIRROR_KEYS, *EngineSettings.model_fields})
            problems.extend(did_you_mean(format_validation_error(exc, where), known,
                                         _list_flag_aliases(reg.cls.Options)))
    problems += _check_typed_entries(raw, "sinks", host.sinks, where, ("type",))
    problems += _check_typed_entries(raw, "notify", host.notifiers, where, ("type", "on"))
    if mirror is not None:
        mirror.options = options
        if "dest" not in raw and options is not None:
            mirror.dest = _plugin_default_dest(registry, host, options) or mirror.dest
        if base_dir is not None and not mirror.dest.is_absolute() and mirror.dest_url is None:
            mirror.dest = base_dir / mirror.dest
    if problems:
        raise ConfigError(_unexpand(problems, refs))
    assert mirror is not None
    return mirror


def _plugin_default_dest(registry: Any, host: PluginHost, options: Any) -> Path | None:
    """A registry's own idea of the mirror directory (apt-mirror's ``set mirror_path``),
    used only when neither ``dest`` nor ``--dest`` is given."""
    hook = getattr(host.registries.get(registry).cls, "default_dest", None)
    if not callable(hook):
        return None
    value = hook(options)
    return Path(value) if value is not None else None


def load_config(path: Path, host: PluginHost) -> list[MirrorConfig]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    except RecursionError:  # tomllib recurses per nesting level of arrays and tables
        raise ConfigError([f"{path}: invalid TOML: nested too deeply"]) from None
    try:
        top = MirrorsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {line}" for line in format_validation_error(exc)]) from None
    problems: list[str] = []
    defaults = dict(top.settings)
    try:
        EngineSettings.model_validate(top.settings)
    except ValidationError as exc:
        lines = did_you_mean(format_validation_error(exc, "settings"),
                             sorted(EngineSettings.model_fields), {})
        problems.extend(f"{path}: {line}" for line in lines)
        # reported once here, not again for every mirror that inherits it
        for err in exc.errors():
            if err["loc"]:
                defaults.pop(str(err["loc"][0]), None)
    mirrors: list[MirrorConfig] = []
    names: set[str] = set()
    for i, raw in enumerate(top.mirrors):
        where = f"mirrors[{i}]"
        try:
            mirror = build_mirror(
                raw, host, where=where, defaults=defaults, base_dir=path.parent
            )
        except ConfigError as exc:
            problems.extend(f"{path}: {line}" for line in exc.problems)
            continue
        if mirror.name in names:
            problems.append(f"{path}: {where}.name: duplicate mirror name {mirror.name!r}")
        names.add(mirror.name)
        mirrors.append(mirror)
    if problems:
        raise ConfigError(problems)
    return mirrors
