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
in error messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "PUBLIC_ENV_NAMES", "Redactor", "redact", "register_secrets"]

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
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s)]*)")
# values that hold no text, returned as they are (a --json plan has 400,000 sizes)
_SCALARS = frozenset({int, float, bool, type(None)})
_MIN_SECRET_LEN = 8  # shorter values would mask ordinary words in error messages


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


def register_secrets(values: Iterable[str]) -> None:
    """Mask ``values`` (those the config took from ``${VAR}``) in everything from now on,
    also as they appear percent-encoded in a URL."""
    global _DEFAULT
    for value in values:
        if len(value) < _MIN_MARKED_LEN:
            continue
        _marked.add(value)
        for safe in ("", "/"):
            encoded = quote(value, safe=safe)
            if encoded != value:
                _marked.add(encoded)
    _DEFAULT = None  # rebuilt with them on the next use


def redact(value: str) -> str:
    """Scrub one string with a redactor built from this process's environment."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT.text(value)
