"""Repositories and suites: what the list file, the TOML form and the flags all come down to.

A *repository* is one base URL (``https://esm.ubuntu.com/infra/ubuntu/``) laid out under one
directory of the mirror; a *suite* is one ``dists/<suite>/`` of it with the components and
architectures selected by every line that names it. Credentials are split off the URL here,
once, so that nothing downstream can put them in a path, a log line or a report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from mirrorkit.api import BasicAuth, PlanError

__all__ = ["Repository", "Suite", "SuiteSpec", "group_suites", "split_credentials"]


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo and ending in '/', user, password)``; apt sends these as Basic."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlanError(f"{_safe(url)}: not an http(s) URL")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    clean = urlunsplit((parts.scheme, netloc, path, "", ""))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, user, password


def _safe(url: str) -> str:
    """A URL fit for an error message: the userinfo replaced, whatever else is wrong with it."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def mirror_dir(url: str) -> str:
    """apt-mirror's directory for a base URL: ``host/path/``, port and credentials dropped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path.strip("/")
    return f"{host}/{path}/" if path else f"{host}/"


@dataclass(frozen=True, slots=True)
class Repository:
    """One base URL; ``prefix`` is where it lives in the mirror ('' for the mirror root)."""

    url: str
    prefix: str
    user: str | None = None
    password: str | None = None
    clean: bool = False

    def auth(self) -> BasicAuth | None:
        if self.user is None and self.password is None:
            return None
        return BasicAuth(self.user or "", self.password or "")

    @property
    def display(self) -> str:
        return self.url


@dataclass(slots=True)
class SuiteSpec:
    """One ``deb``/``deb-src`` line (or TOML source, or the one-repository flags)."""

    url: str  # may carry credentials
    suite: str
    components: list[str]
    arches: list[str] = field(default_factory=list)
    binary: bool = True
    source: bool = False
    keyring: Path | None = None
    where: str = ""  # "mirror.list:12", for error messages

    def describe(self) -> str:
        """The line as a user reads it, credentials removed (``included_repos``)."""
        clean = split_credentials(self.url)[0]
        kinds = [k for k, on in (("deb", self.binary), ("deb-src", self.source)) if on]
        opts = f" [arch={','.join(self.arches)}]" if self.binary and self.arches else ""
        return f"{'+'.join(kinds)}{opts} {clean} {self.suite} {' '.join(self.components)}"


@dataclass(slots=True)
class Suite:
    """Everything selected from one ``dists/<suite>/`` of one repository."""

    repo: Repository
    name: str
    binary_components: list[str] = field(default_factory=list)
    source_components: list[str] = field(default_factory=list)
    arches: list[str] = field(default_factory=list)
    keyring: Path | None = None

    @property
    def local(self) -> str:
        return f"{self.repo.prefix}dists/{self.name}/"

    @property
    def remote(self) -> str:
        return f"{self.repo.url}dists/{self.name}/"


def _add_unique(target: list[str], items: list[str]) -> None:
    for item in items:
        if item not in target:
            target.append(item)


def group_suites(specs: list[SuiteSpec], *, at_root: bool, clean_urls: set[str],
                 keyring: Path | None) -> list[Suite]:
    """Merge lines naming the same repository and suite; refuse repositories that collide.

    ``at_root`` lays the (single) repository at the mirror root instead of ``host/path/``.
    ``clean_urls`` holds credential-free base URLs that have a ``clean`` line.
    """
    repos: dict[str, Repository] = {}
    by_dir: dict[str, str] = {}
    suites: dict[tuple[str, str], Suite] = {}
    for spec in specs:
        url, user, password = split_credentials(spec.url)
        repo = repos.get(url)
        if repo is None:
            prefix = "" if at_root else mirror_dir(url)
            other = by_dir.get(prefix)
            if other is not None:
                raise PlanError(f"{spec.where or url}: {url} and {other} would both be mirrored "
                                f"into {prefix or 'the mirror root'}")
            by_dir[prefix] = url
            repo = repos[url] = Repository(url, prefix, user, password,
                                           clean=url in clean_urls)
        suite = suites.get((url, spec.suite))
        if suite is None:
            suite = suites[(url, spec.suite)] = Suite(repo, spec.suite)
        if spec.binary:
            _add_unique(suite.binary_components, spec.components)
            _add_unique(suite.arches, spec.arches)
        if spec.source:
            _add_unique(suite.source_components, spec.components)
        ring = spec.keyring or keyring
        if ring is not None:
            if suite.keyring is not None and suite.keyring != ring:
                raise PlanError(f"{spec.where or url}: {url} {spec.suite} is signed-by both "
                                f"{suite.keyring} and {ring}")
            suite.keyring = ring
    if at_root and len(repos) > 1:
        raise PlanError("the one-repository form takes one URL")
    return list(suites.values())
