"""The mirror checks the API's signatures as brew does, before anything is committed.

Through the CLI: a tampered ``formula.jws.json`` or ``internal/packages.<tag>.jws.json``
upstream fails the run with one line naming the file and saying "signature", and the mirror
stays byte for byte what it was. Then the rules themselves, one by one, on documents signed
with the tests' key (the real brew agrees with each verdict: test_brew_client.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mirrorkit.plugins.homebrew.signature import SignatureError, load_api_key, verify_jws
from tests.plugins.homebrew.client_docs import documented_error
from tests.plugins.homebrew.fake_brew import FakeHomebrew, key_args
from tests.support.cli import Result, run_cli
from tests.support.jws_signer import PROTECTED, b64url, public_key_file, signer
from tests.support.trees import tree

TAGS = ["arm64_sequoia", "x86_64_linux"]


def mirror(brew: FakeHomebrew, dest: Path, *extra: str) -> Result:
    args: list[str] = ["run", "homebrew", "--dest", str(dest), "--formula", "wget",
                       "--api-url", f"{brew.api.url}/api",
                       "--registry-url", f"{brew.api.url}/v2/homebrew/core",
                       "--retries", "0", *extra]
    for tag in TAGS:
        args += ["--tag", tag]
    return run_cli(*args)


def tamper(brew: FakeHomebrew, path: str, change: Callable[[Any], object]) -> None:
    """Upstream serves ``path`` with its payload changed and its old signature kept."""
    doc = json.loads(brew.api.files[path].body)
    payload = json.loads(doc["payload"])
    change(payload)
    doc["payload"] = json.dumps(payload, separators=(",", ":"))
    brew.api.add(path, json.dumps(doc).encode(), last_modified=2e9)


def _newer_wget(payload: Any) -> None:
    if isinstance(payload, list):  # formula.jws.json
        next(f for f in payload if f["name"] == "wget")["versions"]["stable"] = "9.9.9"
    else:  # internal/packages.<tag>.jws.json
        payload["formulae"]["wget"]["stable_version"] = "9.9.9"


@pytest.mark.parametrize("path", ["/api/formula.jws.json",
                                  "/api/internal/packages.x86_64_linux.jws.json"])
def test_tampered_api_file_fails_the_run_and_the_mirror_stays(
        brew: FakeHomebrew, tmp_path: Path, path: str) -> None:
    dest = tmp_path / "m"
    first = mirror(brew, dest, *key_args())
    assert first.code == 0, first.stderr
    before = tree(dest)

    tamper(brew, path, _newer_wget)
    result = mirror(brew, dest, *key_args())
    assert result.code == 1
    lines = [ln for ln in result.stderr.splitlines() if path in ln and "signature" in ln]
    assert lines, result.stderr
    assert "signature mismatch" in lines[0]
    assert "Traceback" not in result.stderr
    assert tree(dest) == before  # byte for byte, no directory added or removed

    # upstream fixes it: the next run goes through
    brew.publish()
    again = mirror(brew, dest, *key_args())
    assert again.code == 0, again.stderr


def test_homebrew_key_is_the_default(brew: FakeHomebrew, tmp_path: Path) -> None:
    """Without --api-public-key, only Homebrew's own key is trusted: the tests' is not."""
    dest = tmp_path / "m"
    result = mirror(brew, dest)
    assert result.code == 1
    line = next(ln for ln in result.stderr.splitlines() if "signature" in ln)
    assert "/api/" in line and ".jws.json" in line and "Homebrew's homebrew-1 key" in line
    assert tree(dest) == {}


def test_the_documented_error_is_the_one_printed(brew: FakeHomebrew, tmp_path: Path) -> None:
    """docs/homebrew.md shows the line a run prints for an API file Homebrew did not sign."""
    result = run_cli("run", "homebrew", "--dest", tmp_path / "m", "--formula", "hello",
                     "--api-url", f"{brew.api.url}/api",
                     "--registry-url", f"{brew.api.url}/v2/homebrew/core")
    assert result.code == 1
    expected = documented_error().replace("https://formulae.brew.sh/api", f"{brew.api.url}/api")
    assert expected in result.stderr.splitlines(), result.stderr


def test_unusable_key_file_is_a_usage_error(brew: FakeHomebrew, tmp_path: Path) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key\n")
    for key, why in ((bad, "not a PEM public key"), (tmp_path / "missing.pem", "cannot read")):
        result = mirror(brew, tmp_path / "m", "--api-public-key", str(key))
        assert result.code == 2, result.stderr
        assert why in result.stderr and str(key) in result.stderr
    assert not (tmp_path / "m").exists()


def test_key_in_a_config_file(brew: FakeHomebrew, tmp_path: Path) -> None:
    config = tmp_path / "mirrors.toml"
    config.write_text(
        f'[[mirrors]]\nname = "brew"\nregistry = "homebrew"\ndest = "{tmp_path / "m"}"\n'
        f'api_url = "{brew.api.url}/api"\n'
        f'registry_url = "{brew.api.url}/v2/homebrew/core"\n'
        f'tags = ["x86_64_linux"]\nformulae = ["hello"]\n'
        f'api_public_key = "{public_key_file()}"\n')
    result = run_cli("run", "--config", config)
    assert result.code == 0, result.stderr
    assert (tmp_path / "m" / "api" / "formula.jws.json").is_file()


# ---------------------------------------------------------------------------- the rules
def document(payload: str = "[]", *, kid: str = "homebrew-1",
             header: dict[str, Any] | None = None, signature: str | None = None,
             protected: str | None = None, entries: list[Any] | None = None) -> dict[str, Any]:
    """A JWS document signed with the tests' key, with one thing changed."""
    if protected is None:
        protected = PROTECTED if header is None else b64url(json.dumps(header).encode())
    if signature is None:
        signature = signer().signature(f"{protected}.{payload}")
    entry = {"protected": protected, "header": {"kid": kid}, "signature": signature}
    return {"payload": payload, "signatures": [*(entries or []), entry]}


def _repad(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _flip_last_bit(text: str) -> str:
    """The same bytes, written with a stray bit (which Ruby's strict decoder refuses)."""
    raw = base64.urlsafe_b64decode(_repad(text))
    assert len(raw) % 3, "needs a partial last group"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return text[:-1] + alphabet[alphabet.index(text[-1]) + 1]


#: (case, document, verdict: None when valid, else brew's reason)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("valid", document(), None),
    ("valid-padded-signature", document(signature=_repad(signer().signature(
        f"{PROTECTED}.[]"))), None),
    ("valid-padded-protected", document(protected=_repad(PROTECTED)), None),
    ("valid-unicode-payload", document('["caf\u00e9 \u2615"]'), None),
    ("valid-after-other-kid", document(entries=[{"header": {"kid": "other"},
                                                 "protected": "e30", "signature": "AA"}]),
     None),
    ("valid-after-headerless", document(entries=[{"protected": "e30"}]), None),
    ("other-kid", document(kid="homebrew-2"), "key not found"),
    ("alg-rs512", document(header={"alg": "RS512", "b64": False}), "invalid algorithm"),
    ("b64-missing", document(header={"alg": "PS512"}), "invalid algorithm"),
    ("b64-true", document(header={"alg": "PS512", "b64": True}), "invalid algorithm"),
    ("payload-changed", {**document("[1]"), "payload": "[2]"}, "signature mismatch"),
    ("signature-of-other-header", document(
        header={"alg": "PS512", "b64": False, "crit": ["b64"]},
        signature=signer().signature(f"{PROTECTED}.[]")), "signature mismatch"),
    ("stray-bit-signature", document(signature=_flip_last_bit(signer().signature(
        f"{PROTECTED}.[]"))), "invalid base64"),
    ("space-in-signature", document(signature=" " + signer().signature(f"{PROTECTED}.[]")),
     "invalid base64"),
    ("entry-not-object", document(entries=["x"]), "a signature is not an object"),
]


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_signature_rules(case: str) -> None:
    _, doc, verdict = next(c for c in CASES if c[0] == case)
    key = load_api_key(public_key_file())
    if verdict is None:
        verify_jws(doc, key)
    else:
        with pytest.raises(SignatureError, match=verdict):
            verify_jws(doc, key)


def test_homebrews_key_ships_with_the_plugin() -> None:
    key = load_api_key()
    assert key.origin == "Homebrew's homebrew-1 key"
    assert key.key.key_size == 4096
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify_jws(document(), key)
