"""aiohttp, imported without the certificate stores it would load for nobody.

``aiohttp.connector`` builds two SSL contexts when imported, each reading the system's
certificate store: 66 ms of a 260 ms import on the benchmark machine, paid by every run,
https or not. The transport never uses them: every https request is given the transport's
own context, built when the first one needs it (``Transport.ssl_context``). So while aiohttp
is imported, loading the default store does nothing, and those two contexts stay empty; a
request that reached one would fail verification, never skip it. This is done only while
no other thread runs, as the change is process-wide while it lasts.
"""

from __future__ import annotations

import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["aiohttp"]


@contextmanager
def _no_default_certificates() -> Iterator[None]:
    if "aiohttp" in sys.modules or threading.active_count() > 1:
        yield
        return
    saved = ssl.SSLContext.load_default_certs, ssl.SSLContext.set_default_verify_paths
    setattr(ssl.SSLContext, "load_default_certs", lambda self, purpose=None: None)  # noqa: B010
    setattr(ssl.SSLContext, "set_default_verify_paths", lambda self: None)  # noqa: B010
    try:
        yield
    finally:
        setattr(ssl.SSLContext, "load_default_certs", saved[0])  # noqa: B010
        setattr(ssl.SSLContext, "set_default_verify_paths", saved[1])  # noqa: B010


with _no_default_certificates():
    import aiohttp
