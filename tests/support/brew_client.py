"""The real brew 4.3.0, unpacked once per test session, for tests against a mirror.

brew 4.3.0 is the newest release whose Ruby (3.1) Debian 12 ships; its source tree runs on
Linux with the system ``ruby`` and the gems vendored in it. The tarball is
``<repo>/../shared/clients/brew-4.3.0.tar.gz`` beside the checkout (or
``$MIRRORKIT_BREW_TARBALL``). brew reads its version from git, so the tree is committed
and tagged ``4.3.0`` after unpacking, with ``Library/Homebrew/api/homebrew-1.pem``
replaced by the tests' public key first (brew then trusts the tests' signatures, as a
test trusts a private CA; nothing else of brew is changed).

Each test gets its own prefix (``<dir>/prefix/bin/brew``, a link to the shared tree, as
Homebrew's own Linux installs are laid out), cache, temporary and home directories, and a
clean environment: nothing of the host's ``HOMEBREW_*`` settings gets in. Whatever brew
would fetch from the internet (the SBOM schema it validates against in developer mode, the
formulae.brew.sh fallback of a failed API request) goes to a proxy that is a closed port on
loopback, so a test never leaves the machine; requests to 127.0.0.1 go direct. brew refuses
to run as root outside a container; there, brew runs as an unprivileged user the tests
create. ``brew update`` is never run (it would move to a newer brew).
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BREW_VERSION", "BrewClient", "BrewPrefix", "BrewResult", "brew_tarball",
           "unpack_brew"]

BREW_VERSION = "4.3.0"
TARBALL_ENV = "MIRRORKIT_BREW_TARBALL"
#: set to 1 to run brew as an unprivileged user even where root would do (a container)
AS_USER_ENV = "MIRRORKIT_TEST_BREW_AS_USER"
BREW_USER = "mirrorkit-brew"
REPO_ROOT = Path(__file__).resolve().parents[2]
_CONTAINER_CGROUP = re.compile(r"azpl_job|actions_job|docker|garden|kubepods")


def brew_tarball() -> Path:
    """Where brew's source is; a missing file is an error saying where it was looked for."""
    given = os.environ.get(TARBALL_ENV)
    path = Path(given) if given else REPO_ROOT.parent / "shared" / "clients" / \
        f"brew-{BREW_VERSION}.tar.gz"
    if not path.is_file():
        raise FileNotFoundError(
            f"brew {BREW_VERSION}'s source is not at {path}: the brew tests need it (put the "
            f"shared/ directory beside the checkout, or set {TARBALL_ENV} to the tarball)")
    return path


def _in_container() -> bool:
    """brew's own test (brew.sh ``check-run-command-as-root``)."""
    if Path("/.dockerenv").exists():
        return True
    try:
        return bool(_CONTAINER_CGROUP.search(Path("/proc/1/cgroup").read_text()))
    except OSError:
        return False


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user brew runs as: None (this process's) unless root outside a container."""
    if os.geteuid() != 0 or (_in_container() and os.environ.get(AS_USER_ENV) != "1"):
        return None
    try:
        return pwd.getpwnam(BREW_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/bin/sh", BREW_USER], check=True, capture_output=True)
        return pwd.getpwnam(BREW_USER)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=mirrorkit tests", "-c", "user.email=tests@invalid",
                    "-c", "init.defaultBranch=stable", *args], cwd=cwd, check=True,
                   capture_output=True)


def unpack_brew(into: Path, public_key_pem: bytes) -> Path:
    """brew's tree at ``into/brew``: unpacked, the API key swapped, committed, tagged."""
    tarball = brew_tarball()
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(into)], check=True,
                   capture_output=True)
    repo = into / "brew"
    (repo / "Library/Homebrew/api/homebrew-1.pem").write_bytes(public_key_pem)
    _git("init", "-q", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", f"brew {BREW_VERSION} (tests' API key)", cwd=repo)
    _git("tag", BREW_VERSION, cwd=repo)
    return repo


@dataclass
class BrewResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class BrewPrefix:
    """One client: its prefix, cache and environment."""

    root: Path
    client: BrewClient
    env: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> Path:
        return self.root / "prefix"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def brew(self) -> Path:
        return self.prefix / "bin" / "brew"

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root / "home"), "LANG": "C.UTF-8",
            "HOMEBREW_NO_AUTO_UPDATE": "1", "HOMEBREW_NO_ANALYTICS": "1",
            "HOMEBREW_DEVELOPER": "1", "HOMEBREW_NO_ENV_HINTS": "1",
            "HOMEBREW_NO_INSTALL_CLEANUP": "1", "HOMEBREW_NO_COLOR": "1",
            "HOMEBREW_CACHE": str(self.cache), "HOMEBREW_TEMP": str(self.root / "tmp"),
            "HOMEBREW_LOGS": str(self.root / "logs"),
            **self.client.offline_env(),
        }

    def run(self, *args: str, timeout: float = 300) -> BrewResult:
        """``brew ARGS`` as a user would run it with this client's environment."""
        return self.client.run([str(self.brew), *args], {**self.base_env(), **self.env},
                               timeout=timeout)

    def shell(self, script: str, timeout: float = 120) -> BrewResult:
        """A shell snippet (from the docs) run as this client, ``brew`` on its PATH."""
        return self.client.run(["/bin/sh", "-ec", script], {**self.base_env(), **self.env},
                               timeout=timeout)

    def own(self) -> None:
        """Hand what the test wrote for this client (a seeded cache) to brew's user."""
        self.client.own(self.root)


@dataclass
class BrewClient:
    """The unpacked brew, shared by every client of the session."""

    repo: Path
    user: pwd.struct_passwd | None
    #: bound, never listening: a connection to it is refused at once
    closed_port: socket.socket = field(default_factory=socket.socket)

    def __post_init__(self) -> None:
        self.closed_port.bind(("127.0.0.1", 0))

    @classmethod
    def create(cls, into: Path, public_key_pem: bytes) -> BrewClient:
        user = _unprivileged_user()
        repo = unpack_brew(into, public_key_pem)
        client = cls(repo, user)
        client.own(into)
        return client

    def offline_env(self) -> dict[str, str]:
        """Proxies that refuse everything but loopback (the mirror, the fake vendors)."""
        proxy = f"http://127.0.0.1:{self.closed_port.getsockname()[1]}"
        return {"http_proxy": proxy, "https_proxy": proxy, "all_proxy": proxy,
                "HTTPS_PROXY": proxy, "ALL_PROXY": proxy, "no_proxy": "127.0.0.1,localhost"}

    def own(self, path: Path) -> None:
        """Make ``path`` the brew user's (and reachable by it); nothing to do as root."""
        if self.user is None:
            return
        subprocess.run(["chown", "-R", f"{self.user.pw_uid}:{self.user.pw_gid}", str(path)],
                       check=True)
        self.reach(path)

    def reach(self, path: Path) -> None:
        """Let brew's user get to ``path`` (a mirror a client copies from); its files are
        world-readable already."""
        if self.user is None:
            return
        for parent in [path, *path.parents]:  # pytest's temporary directories are 0700
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)

    def prefix(self, root: Path) -> BrewPrefix:
        """A fresh client at ``root``: ``prefix/bin/brew`` linked to the shared tree."""
        (root / "prefix" / "bin").mkdir(parents=True)
        (root / "prefix" / "bin" / "brew").symlink_to(self.repo / "bin" / "brew")
        for name in ("cache", "tmp", "home", "logs"):
            (root / name).mkdir()
        self.own(root)
        return BrewPrefix(root, self)

    def run(self, argv: list[str], env: dict[str, str], *, timeout: float) -> BrewResult:
        if self.user is not None:
            argv = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                    "--init-groups", "--", *argv]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=env.get("HOME"))
        return BrewResult(proc.returncode, proc.stdout, proc.stderr)

