"""apt-mirror's ``mirror.list``, read as apt-mirror reads it, so operators keep their files.

Lines: ``set NAME VALUE`` (``$name`` expands earlier values, as in apt-mirror),
``deb [arch=a,b signed-by=/path] URL SUITE COMPONENT...``, the old ``deb-ARCH URL ...``,
``deb-src URL SUITE COMPONENT...``, ``clean URL``, ``skip-clean URL``, ``#`` comments.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mirrorkit.api import PlanError

from .sources import SuiteSpec, split_credentials

__all__ = ["MirrorList", "host_architecture", "parse_mirror_list", "read_mirror_list"]

#: ``set`` names with a meaning here (mapped), and the ones accepted but without one.
MAPPED = {"defaultarch", "base_path", "mirror_path", "_contents", "_autoclean"}
IGNORED_NOTES = {
    "nthreads": "use --concurrency / --per-host",
    "limit_rate": "no rate limit here",
    "auth_no_challenge": "credentials are always sent up front",
    "_tilde": "paths keep the URL's own characters",
    "var_path": "state lives in DEST/.mirrorkit",
    "cleanscript": "clean happens in the run itself",
    "postmirror_script": "run it after mirrorkit",
    "run_postmirror": "run it after mirrorkit",
    "skel_path": "downloads are staged in DEST/.mirrorkit",
    "unlink": "files are replaced by rename",
    "use_proxy": "the HTTP(S)_PROXY variables apply",
    "http_proxy": "the HTTP(S)_PROXY variables apply",
    "https_proxy": "the HTTP(S)_PROXY variables apply",
    "proxy_user": "the HTTP(S)_PROXY variables apply",
    "proxy_password": "the HTTP(S)_PROXY variables apply",
    "certificate": "use --ca-bundle",
    "private_key": "client certificates are not supported",
    "ca_certificate": "use --ca-bundle",
    "no_check_certificate": "certificates are always checked",
    "wget_options": "no wget here",
}

_VAR = re.compile(r"\$(\w+)")


@dataclass(slots=True)
class MirrorList:
    specs: list[SuiteSpec] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    clean: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)

    @property
    def mirror_path(self) -> Path | None:
        if "mirror_path" in self.settings:
            return Path(self.settings["mirror_path"])
        if "base_path" in self.settings:
            return Path(self.settings["base_path"]) / "mirror"
        return None

    def flag(self, name: str) -> bool | None:
        value = self.settings.get(name)
        return None if value is None else value.strip() not in ("0", "", "no", "false")


def host_architecture() -> str:
    """apt-mirror's default ``defaultarch``: this machine's dpkg architecture."""
    dpkg = shutil.which("dpkg")
    if dpkg:
        try:
            out = subprocess.run([dpkg, "--print-architecture"], capture_output=True,
                                 text=True, timeout=10, check=True).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return "amd64"


def read_mirror_list(path: Path) -> MirrorList:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path}: not UTF-8 text") from None
    return parse_mirror_list(text, str(path))


def _options(tokens: list[str], where: str) -> tuple[dict[str, str], list[str]]:
    """``[arch=a,b signed-by=/p]`` at the head of ``tokens`` (spaces inside allowed)."""
    if not tokens or not tokens[0].startswith("["):
        return {}, tokens
    text = " ".join(tokens)
    end = text.find("]")
    if end < 0:
        raise PlanError(f"{where}: '[' without ']'")
    opts: dict[str, str] = {}
    for item in text[1:end].split():
        key, sep, value = item.partition("=")
        if not sep:
            raise PlanError(f"{where}: option {item!r} is not key=value")
        opts[key.rstrip("+-")] = value
    return opts, text[end + 1:].split()


def parse_mirror_list(text: str, name: str = "mirror.list") -> MirrorList:
    out = MirrorList()
    seen_ignored: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{name}:{number}"
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        word = tokens[0]
        if word == "set":
            if len(tokens) < 2:
                raise PlanError(f"{where}: 'set' needs a name and a value")
            value = " ".join(tokens[2:])
            value = _VAR.sub(lambda m: out.settings.get(m.group(1), m.group(0)), value)
            out.settings[tokens[1]] = value
            if tokens[1] not in MAPPED and tokens[1] not in seen_ignored:
                seen_ignored.add(tokens[1])
                note = IGNORED_NOTES.get(tokens[1], "unknown to mirrorkit")
                out.ignored.append(f"{tokens[1]} ({note})")
        elif word in ("clean", "skip-clean"):
            if len(tokens) != 2:
                raise PlanError(f"{where}: '{word}' takes one URL")
            if word == "clean":
                out.clean.add(split_credentials(tokens[1])[0])
            elif "skip-clean" not in seen_ignored:
                seen_ignored.add("skip-clean")
                out.ignored.append("skip-clean (only files still listed upstream are kept)")
        elif word == "deb" or word == "deb-src" or word.startswith("deb-"):
            out.specs.append(_deb_line(word, tokens[1:], where))
        else:
            raise PlanError(f"{where}: unknown line {word!r} (expected set, deb, deb-src, "
                            "clean or a # comment)")
    lacking = [spec for spec in out.specs if spec.binary and not spec.arches]
    if lacking:  # dpkg is asked only when a line needs it
        default = out.settings.get("defaultarch") or host_architecture()
        for spec in lacking:
            spec.arches = [default]
    return out


def _deb_line(word: str, rest: list[str], where: str) -> SuiteSpec:
    opts, rest = _options(rest, where)
    if len(rest) < 2:
        raise PlanError(f"{where}: '{word}' needs a URL and a suite")
    url, suite, components = rest[0], rest[1], rest[2:]
    split_credentials(url)  # a clear error now for a malformed URL
    keyring = Path(opts["signed-by"]) if opts.get("signed-by") else None
    arches = [a for a in opts.get("arch", "").split(",") if a]
    if word == "deb-src":
        return SuiteSpec(url, suite, components, binary=False, source=True, keyring=keyring,
                         where=where)
    if word != "deb":  # apt-mirror's old ``deb-amd64 URL ...`` form
        arches = [word[4:]]
    return SuiteSpec(url, suite, components, arches=arches, keyring=keyring, where=where)
