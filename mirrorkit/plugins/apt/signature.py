"""Checking a suite's signature with ``gpgv``, the verifier apt itself runs.

gpgv only answers "is this signed by a key in this keyring": no trust database, no host
keyring, no agent. Using the same program as apt means the mirror accepts exactly what its
clients will accept (the same algorithms, the same expiry rules). A throwaway ``--homedir``
keeps the host's ``~/.gnupg/trustedkeys.kbx`` out, so only the given keyring counts.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from mirrorkit.api import PlanError

__all__ = ["verify_clearsigned", "verify_detached"]

_TIMEOUT = 60


def _gpgv() -> str:
    path = shutil.which("gpgv")
    if path is None:
        raise PlanError("gpgv not found: install the gpgv package to check signed-by keyrings")
    return path


def _keyring(keyring: Path, home: Path) -> Path:
    """gpgv reads binary keyrings; an armored ``.asc`` (as apt also accepts) is dearmored."""
    try:
        head = keyring.read_bytes()[:64]
    except OSError as exc:
        raise PlanError(f"{keyring}: cannot read keyring ({exc.strerror or exc})") from None
    if not head.lstrip().startswith(b"-----BEGIN PGP"):
        return keyring.resolve()
    gpg = shutil.which("gpg")
    if gpg is None:
        raise PlanError(f"{keyring}: an armored keyring needs gpg to dearmor it")
    out = home / "keyring.gpg"
    proc = subprocess.run([gpg, "--homedir", str(home), "--batch", "--yes", "--dearmor",
                           "--output", str(out), str(keyring)],
                          capture_output=True, timeout=_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise PlanError(f"{keyring}: not an OpenPGP keyring")
    return out


def _run(keyring: Path, args: list[str], what: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mirrorkit-gpgv-") as home:
        ring = _keyring(keyring, Path(home))
        proc = subprocess.run([_gpgv(), "--homedir", home, "--keyring", str(ring), *args],
                              capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        detail = lines[-1].removeprefix("gpgv: ") if lines else f"exit {proc.returncode}"
        raise PlanError(f"{what}: signature does not verify against {keyring} ({detail})")


def verify_clearsigned(keyring: Path, signed: Path, what: str) -> str:
    """The text ``InRelease`` signs, after gpgv accepted it (only what the signature covers)."""
    with tempfile.TemporaryDirectory(prefix="mirrorkit-gpgv-out-") as tmp:
        out = Path(tmp) / "Release"
        _run(keyring, ["--output", str(out), str(signed)], what)
        return out.read_text(encoding="utf-8", errors="replace")


def verify_detached(keyring: Path, signature: Path, data: Path, what: str) -> None:
    _run(keyring, [str(signature), str(data)], what)
