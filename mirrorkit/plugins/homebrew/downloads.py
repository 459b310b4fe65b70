"""What goes into ``downloads/``: formula sources and cask downloads, read from the API.

Each file is named as brew names it in its download cache (:mod:`.download_cache`) and
carries the sha256 the API gives for it, which the mirror checks before publishing it (and
brew checks again when it takes the file from its cache).

- **Formula sources** (``--sources``), from ``formula.jws.json``: ``urls.stable.url`` with
  its ``checksum``, and the formula's Ruby file, which brew fetches from
  ``raw.githubusercontent.com/<tap>/<tap_git_head>/<ruby_source_path>`` (checked against
  ``ruby_source_checksum``) before it builds an API formula from source. Only what brew
  downloads with curl into a single file is covered: a source from a git (or svn, hg...)
  repository, an Apache mirror redirector or a POST is left out with a warning.
- **Casks** (``--cask NAME``), from ``cask.jws.json``: the ``url``/``sha256`` pair, and
  each of its ``variations`` for a mirrored tag (brew merges the variation of its own tag).
  A cask whose sha256 is ``no_check`` is refused unless unchecked casks are allowed (the
  mirror then fetches it again on every run); ``version :latest`` casks (always unchecked)
  are mirrored with a warning, as brew 4.x never takes one from its cache.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mirrorkit.api import PlanError, UnsafePathError, validate_relpath

from .download_cache import DOWNLOADS_DIR, cache_name

__all__ = ["Download", "cask_downloads", "formula_downloads", "source_closure"]

log = logging.getLogger("mirrorkit.registry.homebrew")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CORE_TAP = "Homebrew/homebrew-core"
#: brew's fake Safari user agent (``HOMEBREW_USER_AGENT_FAKE_SAFARI``), for ``user_agent :fake``
FAKE_SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.0 Safari/605.1.15")
#: download strategies that leave one file at ``cached_location``, fetched from the URL itself
_CURL_USING = frozenset({None, "curl", "homebrew_curl", "nounzip"})
# DownloadStrategyDetector.detect_from_url: what is not a plain curl download
_NOT_CURL_URL = re.compile(
    r"^https?://ghcr\.io/v2/|^https?://.+\.git$|^git://|^https?://git\.sr\.ht/[^/]+/[^/]+$"
    r"|^ssh://git|^https?://www\.apache\.org/dyn/closer\.(cgi|lua)"
    r"|^https?://([A-Za-z0-9\-.]+\.)?googlecode\.com/(svn|hg)|^https?://svn\.|^svn://"
    r"|^svn\+http://|^http://svn\.apache\.org/repos/|^https?://([A-Za-z0-9\-.]+\.)?"
    r"sourceforge\.net/(svnroot|hgweb)/|^cvs://|^hg://|^bzr://|^fossil://")
_MAX_NAME_BYTES = 255


class Unsupported(ValueError):
    """A download the mirror cannot put in brew's cache (said why)."""


@dataclass(frozen=True, slots=True)
class Download:
    """One file of ``downloads/``."""

    path: str  # downloads/<sha256 of brew's URL>--<basename>
    url: str  # where the mirror fetches it (brew's URL, or a stand-in for its host)
    sha256: str | None  # None only for an allowed unchecked cask
    headers: tuple[tuple[str, str], ...] = ()


def _path(brew_url: str) -> str:
    name = cache_name(brew_url)
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
        raise Unsupported("its cache file name would be longer than a file name can be")
    try:
        return validate_relpath(f"{DOWNLOADS_DIR}/{name}")
    except UnsafePathError as exc:
        raise Unsupported(f"its cache file name is not usable ({exc})") from None


def _check_curl(url: Any, using: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise Unsupported(f"{url!r:.80} is not an http(s) URL")
    if using is not None and not isinstance(using, str):
        raise Unsupported(f"download strategy {using!r:.40} is not a name")
    if using not in _CURL_USING:
        raise Unsupported(f"brew downloads it with :{using}, not into a single cached file")
    if using is None and _NOT_CURL_URL.search(url):
        raise Unsupported("brew does not download it into a single cached file "
                          "(a repository or a mirror redirector)")
    return url


def _sha256(value: Any) -> str:
    if not isinstance(value, str) or not _SHA256_RE.match(value):
        raise Unsupported("the API gives no sha256 for it")
    return value


# ---------------------------------------------------------------------------- formulae
def _entries(payload: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(payload, list):
        raise PlanError(f"{where}: payload is not a list")
    return {e["name"]: e for e in payload if isinstance(e, dict) and isinstance(e.get("name"), str)}


def _names(value: Any) -> Iterator[str]:
    """Formula names of a dependency list (``"zlib"`` or ``{"zlib": [...]}`` entries)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item
            elif isinstance(item, dict):
                yield from (k for k in item if isinstance(k, str))


def _runtime_deps(entry: Mapping[str, Any]) -> set[str]:
    """Runtime dependencies on any platform: the base ones, ``uses_from_macos`` (needed on
    Linux) and every variation's. Sources are the same for every tag, so a superset is right."""
    out: set[str] = set()
    blocks = [entry, *(v for v in (entry.get("variations") or {}).values() if isinstance(v, dict))]
    for block in blocks:
        for key in ("dependencies", "recommended_dependencies", "uses_from_macos"):
            out.update(_names(block.get(key)))
    return out


def source_closure(payload: Any, roots: Iterable[str], where: str, *, deps: bool = True,
                   ) -> tuple[list[str], list[str]]:
    """The formulae ``roots`` name (aliases and old names resolved) and, with ``deps``, their
    runtime dependencies, sorted; and the dependencies not in the API (to warn about)."""
    entries = _entries(payload, where)
    other: dict[str, str] = {}
    for name, entry in entries.items():
        for key in ("aliases", "oldnames"):
            for alias in entry.get(key) or []:
                if isinstance(alias, str):
                    other.setdefault(alias, name)
    seen: set[str] = set()
    missing: list[str] = []
    queue: deque[str] = deque()
    for root in roots:
        found = root if root in entries else other.get(root)
        if found is None:
            raise PlanError(f"--formula {root}: no such formula in formula.jws.json")
        queue.append(found)
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        seen.add(name)
        for dep in sorted(_runtime_deps(entries[name]) if deps else ()):
            target = dep if dep in entries else other.get(dep)
            if target is None:
                if dep not in missing:
                    missing.append(dep)
            elif target not in seen:
                queue.append(target)
    return sorted(seen), missing


def _formula_source(entry: Mapping[str, Any]) -> tuple[str, str]:
    stable = (entry.get("urls") or {}).get("stable")
    if not isinstance(stable, dict):
        raise Unsupported("it has no stable URL")
    return _check_curl(stable.get("url"), stable.get("using")), _sha256(stable.get("checksum"))


def _ruby_source(entry: Mapping[str, Any], raw_base: str) -> tuple[str, str, str]:
    """(brew's URL, the mirror's URL, sha256) of the formula's Ruby file."""
    head = entry.get("tap_git_head")
    path = entry.get("ruby_source_path") or f"Formula/{entry['name']}.rb"
    if not isinstance(head, str) or not re.fullmatch(r"[0-9a-f]{7,40}", head):
        raise Unsupported("the API gives no tap_git_head for its Ruby file")
    if not isinstance(path, str) or not re.fullmatch(r"[A-Za-z0-9@+._/-]+\.rb", path) \
            or ".." in path.split("/"):
        raise Unsupported(f"ruby_source_path {path!r:.80} is not a file name")
    sha = _sha256((entry.get("ruby_source_checksum") or {}).get("sha256"))
    rel = f"{_CORE_TAP}/{head}/{path}"
    return f"https://raw.githubusercontent.com/{rel}", f"{raw_base.rstrip('/')}/{rel}", sha


def formula_downloads(payload: Any, names: Iterable[str] | None, raw_base: str, where: str,
                      ) -> tuple[list[Download], list[str]]:
    """The source archive and Ruby file of each formula (every one when ``names`` is None);
    and a warning per file left out."""
    entries = _entries(payload, where)
    out: list[Download] = []
    skipped: list[str] = []
    for name in sorted(entries) if names is None else names:
        entry = entries[name]
        if (entry.get("versions") or {}).get("stable") is None:
            continue  # HEAD-only: nothing to cache
        try:
            url, sha = _formula_source(entry)
            out.append(Download(_path(url), url, sha))
        except Unsupported as exc:
            skipped.append(f"{name} source: {exc}")
        try:
            brew_url, fetch_url, sha = _ruby_source(entry, raw_base)
            out.append(Download(_path(brew_url), fetch_url, sha))
        except Unsupported as exc:
            skipped.append(f"{name} Ruby file: {exc}")
    return out, skipped


# ---------------------------------------------------------------------------- casks
def _cask_headers(token: str, specs: Any) -> tuple[tuple[str, str], ...]:
    """The request headers brew sends for a cask's ``url_specs``; what the mirror cannot
    reproduce is refused."""
    if specs is None:
        return ()
    if not isinstance(specs, dict):
        raise PlanError(f"--cask {token}: url_specs is not an object")
    headers: list[tuple[str, str]] = []
    for key, value in specs.items():
        if key in ("verified", "only_path", "trust_cert", "using"):
            continue  # no effect on the request (using is checked with the URL)
        if key == "user_agent" and isinstance(value, str):
            agent = FAKE_SAFARI if value in (":fake", ":browser") else value
            if value != ":default":
                headers.append(("User-Agent", agent))
        elif key == "referer" and isinstance(value, str):
            headers.append(("Referer", value))
        elif key == "cookies" and isinstance(value, dict):
            headers.append(("Cookie", ";".join(f"{k}={v}" for k, v in value.items())))
        elif key == "header" and isinstance(value, str | list):
            for line in [value] if isinstance(value, str) else value:
                name, sep, text = str(line).partition(":")
                if not sep or not name.strip():
                    raise PlanError(f"--cask {token}: header {line!r:.60} is not 'Name: value'")
                headers.append((name.strip(), text.strip()))
        else:
            raise PlanError(f"--cask {token}: brew downloads it with {key} {value!r:.60}, "
                            "which the mirror cannot reproduce")
    return tuple(headers)


def cask_downloads(payload: Any, tokens: Iterable[str], tags: Iterable[str], *,
                   allow_unchecked: bool, where: str) -> list[Download]:
    """Every download of the named casks a client on one of ``tags`` may make."""
    if not isinstance(payload, list):
        raise PlanError(f"{where}: payload is not a list")
    casks: dict[str, dict[str, Any]] = {}
    for entry in payload:
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            casks.setdefault(entry["token"], entry)
            for old in entry.get("old_tokens") or []:
                if isinstance(old, str):
                    casks.setdefault(old, entry)
    wanted_tags = list(tags)
    out: dict[str, Download] = {}
    for token in tokens:
        entry = casks.get(token)
        if entry is None:
            raise PlanError(f"--cask {token}: no such cask in cask.jws.json")
        variations = entry.get("variations") or {}
        if not isinstance(variations, dict):
            raise PlanError(f"--cask {token}: variations is not an object")
        # the cask as it is, and as brew merges each mirrored tag's variation into it
        variants = [entry] + [{**entry, **variations[tag]} for tag in wanted_tags
                              if isinstance(variations.get(tag), dict)]
        for spec in variants:
            specs = spec.get("url_specs") or {}
            try:
                url = _check_curl(spec.get("url"), specs.get("using")
                                  if isinstance(specs, dict) else None)
                path = _path(url)
            except Unsupported as exc:
                raise PlanError(f"--cask {token}: {spec.get('url')!r:.100}: {exc}") from None
            sha: str | None
            if spec.get("sha256") == "no_check":
                if not allow_unchecked:
                    raise PlanError(
                        f"--cask {token}: its API entry says sha256 :no_check, so neither brew "
                        "nor the mirror can check what it downloads; give "
                        "--allow-unchecked-casks to mirror it anyway")
                sha = None
                if spec.get("version") == "latest":
                    log.warning("homebrew: --cask %s: version :latest; brew 4.x never takes such "
                                "a cask from its download cache", token)
            else:
                try:
                    sha = _sha256(spec.get("sha256"))
                except Unsupported as exc:
                    raise PlanError(f"--cask {token}: {exc}") from None
            out.setdefault(path, Download(path, url, sha, _cask_headers(token, specs)))
    return list(out.values())

