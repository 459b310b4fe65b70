"""Strip secrets from everything mirrorkit prints, logs, reports or sends.

The run report holds no options, but its error lines quote URLs, and a URL can carry a
token (``?token=...``, ``https://user:pass@host``) that came from the environment through a
``${VAR}`` reference. Logs, ``--json`` reports and notifications all leave the machine
(log shippers, chat rooms, mail lists), so every string is scrubbed three ways: URL
credentials, secret-looking query parameters, and the literal value of any secret-looking
environment variable, wherever it appears. Every value the config took from a ``${VAR}``
is a secret too (:func:`register_secrets`), whatever its key and wherever it lands (a URL
path, ``?jwt=``): the operator marked it by keeping it out of the file. Variables every
shell sets (``PWD``, ``HOME``, ...) are no secrets: masking them hid the current directory
in error messages. The credentials a configured URL carries (its userinfo, conda's
``/t/<token>/`` segment) are registered the same way (:func:`register_url_secrets`), so they
are masked wherever a URL derived from it is printed.

What is written to disk (plugin state, caches, anything under the destination or in a
bucket that a web server may serve) holds URLs as :func:`storable_url` makes them: no
userinfo, each ``${VAR}`` value as its ``${VAR}`` reference, any other registered secret and
secret-looking query values masked. A plugin that needs the URL again gets the credentials
back from the configured URL it came from (:func:`usable_url`), never from the disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["MASK", "PUBLIC_ENV_NAMES", "Redactor", "redact", "register_secrets",
           "register_url_secrets", "storable_url", "usable_url"]

MASK = "***"
_SECRET_NAME = re.compile(r"(token|secret|passw|pwd|key|signature|credential|auth|jwt|sig$)",
                          re.I)
# set by shells and session managers, never secrets, and often part of every path printed
PUBLIC_ENV_NAMES = frozenset({
    "PWD", "OLDPWD", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TMP", "TEMP", "HOSTNAME",
    "LANG", "TERM", "PATH", "SSH_AUTH_SOCK", "XAUTHORITY", "GPG_AGENT_INFO", "KEYTIMEOUT",
})
_MIN_MARKED_LEN = 6  # a ${VAR} value shorter than this would mask parts of ordinary words
_marked: set[str] = set()
#: each ``${VAR}`` value (and its percent-encoded forms) -> ``"${VAR}"``, and back
_refs: dict[str, str] = {}
_ref_values: dict[str, str] = {}
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s)]*)")
# values that hold no text, returned as they are (a --json plan has 400,000 sizes)
_SCALARS = frozenset({int, float, bool, type(None)})
_MIN_SECRET_LEN = 8  # shorter values would mask ordinary words in error messages
#: anaconda.org's token in a channel URL (``https://host/t/<token>/channel``), as conda
#: itself finds it; only looked for in configured URLs: a path of a Debian pool
#: (``pool/main/t/tar/``) has the same shape
_CONDA_TOKEN = re.compile(r"/t/(?P<token>[A-Za-z0-9-]+)(?=/|$)")
#: what a token looks like (anaconda.org's hold a UUID): ``/t/simple/`` in an index URL or
#: ``s3://bucket/t/mirror`` names no secret, and masking "simple" would blank every path
_TOKEN_SHAPE = re.compile(r"(?=.*[0-9])[A-Za-z0-9-]{8,}")


class Redactor:
    """Scrubs strings and JSON-like structures; built once per notification round."""

    def __init__(self, environ: Mapping[str, str] | None = None,
                 extra_secrets: list[str] | None = None) -> None:
        env = os.environ if environ is None else environ
        values = {v for k, v in env.items()
                  if _SECRET_NAME.search(k) and k.upper() not in PUBLIC_ENV_NAMES
                  and len(v) >= _MIN_SECRET_LEN}
        values.update(s for s in (extra_secrets or []) if len(s) >= _MIN_SECRET_LEN)
        values.update(_marked)
        # longest first, so a secret containing another is masked whole
        self._values = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        # each pattern needs a literal its match cannot do without: a report listing
        # 400,000 paths spent most of its scrubbing in regex calls that found nothing
        out = value
        if "://" in out:
            out = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", out)
        if "=" in out:
            out = _QUERY_PARAM.sub(_mask_param, out)
        for secret in self._values:
            if secret in out:
                out = out.replace(secret, MASK)
        return out

    def data(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, strings, scalars) with every string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            text = self.text
            return {str(k): v if type(v) in _SCALARS else text(v) if type(v) is str
                    else self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _mask_param(m: re.Match[str]) -> str:
    if _SECRET_NAME.search(m["name"]) or m["name"].lower().startswith("x-amz-"):
        return f"{m['sep']}{m['name']}={MASK}"
    return m.group(0)


_DEFAULT: Redactor | None = None


def register_secrets(values: Iterable[str] | Mapping[str, str]) -> None:
    """Mask ``values`` (those the config took from ``${VAR}``) in everything from now on,
    also as they appear percent-encoded in a URL. A mapping gives each value's ``${VAR}``
    reference, which :func:`storable_url` writes in its place."""
    global _DEFAULT
    refs = values if isinstance(values, Mapping) else {}
    for value in values:
        if len(value) < _MIN_MARKED_LEN:
            continue
        ref = refs.get(value)
        for form in {value, quote(value, safe=""), quote(value, safe="/")}:
            _marked.add(form)
            if ref is not None:
                _refs[form] = ref
        if ref is not None:
            _ref_values[ref] = value
    _DEFAULT = None  # rebuilt with them on the next use


def register_url_secrets(url: str) -> None:
    """Mask the credentials of a configured URL wherever they appear from now on: its
    userinfo's password (or a user name alone, a token as GitHub takes it) and conda's
    ``/t/<token>/`` segment."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if not parts.scheme or not parts.netloc:
        return
    found = []
    if parts.scheme in ("http", "https"):
        found = [m["token"] for m in _CONDA_TOKEN.finditer(parts.path)
                 if _TOKEN_SHAPE.fullmatch(m["token"])]
    credential = password if password is not None else user
    if credential:
        found.append(credential)
    register_secrets(found)


def storable_url(url: str) -> str:
    """``url`` as it may be written to disk: without userinfo, each ``${VAR}`` value as its
    ``${VAR}`` reference, any other registered secret (a conda token) and the values of
    secret-looking query parameters as ``***``. Same URL, same result (a cache key)."""
    out = url
    if "@" in out:
        out = _USERINFO.sub(lambda m: m["scheme"], out)
    if _marked:
        for secret in sorted((s for s in _marked if s in out), key=len, reverse=True):
            out = out.replace(secret, _refs.get(secret, MASK))
    if "=" in out:
        out = _QUERY_PARAM.sub(_mask_param, out)
    return out


def usable_url(stored: str, source: str) -> str:
    """A URL read back from disk (written by :func:`storable_url`) with its credentials
    again: ``${VAR}`` references registered by this run's config become their values, and a
    URL on the origin of ``source`` (the configured URL it derives from) gets ``source``'s
    userinfo, conda token and secret query values, as pip gives an index's credentials to
    every file on the index's host."""
    out = stored
    if "${" in out:
        for ref, value in _ref_values.items():
            out = out.replace(ref, value)
    origin, userinfo, token, params = _credentials_of(source)
    if not userinfo and not token and not params:
        return out
    if not (out.startswith(origin) and out[len(origin):len(origin) + 1] in ("", "/", "?")):
        return out
    if userinfo and "@" not in out[:len(origin)]:
        scheme_end = out.index("://") + 3
        out = f"{out[:scheme_end]}{userinfo}@{out[scheme_end:]}"
    if token:
        out = out.replace(f"/t/{MASK}/", f"/t/{token}/", 1)
        if out.endswith(f"/t/{MASK}"):
            out = out[: -len(MASK)] + token
    if params and f"={MASK}" in out:
        out = _QUERY_PARAM.sub(
            lambda m: (f"{m['sep']}{m['name']}={params[m['name']]}"
                       if m["value"] == MASK and m["name"] in params else m.group(0)), out)
    return out


@lru_cache(maxsize=64)
def _credentials_of(source: str) -> tuple[str, str, str, dict[str, str]]:
    """``(scheme://host[:port] as stored, userinfo, conda token, secret query values)``."""
    try:
        parts = urlsplit(source)
    except ValueError:
        return "", "", "", {}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    match = next((m for m in _CONDA_TOKEN.finditer(parts.path)
                  if _TOKEN_SHAPE.fullmatch(m["token"])), None)
    pairs = (piece.partition("=") for piece in re.split(r"[&;]", parts.query) if piece)
    params = {name: value for name, _, value in pairs
              if _SECRET_NAME.search(name) or name.lower().startswith("x-amz-")}
    return (f"{parts.scheme}://{hostport}", userinfo, match["token"] if match else "",
            params)


def redact(value: str) -> str:
    """Scrub one string with a redactor built from this process's environment."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT.text(value)
