"""aiohttp, imported without loading a certificate store into a context that verifies nothing.

``aiohttp.connector`` builds two SSL contexts when imported: a verifying one (the default
store, used for every https request given no context of its own) and one that verifies
nothing, for ``ssl=False``, into which it loads the default store all the same. Each load
is about 33 ms on the benchmark machine, paid by every run, https or not. While aiohttp is
imported, loading the default store into a context whose ``verify_mode`` is ``CERT_NONE``
does nothing; the verifying context is built as aiohttp builds it. This is done only while
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
def _unverified_contexts_without_a_store() -> Iterator[None]:
    if "aiohttp" in sys.modules or threading.active_count() > 1:
        yield
        return
    load = ssl.SSLContext.set_default_verify_paths

    def load_unless_unverified(self: ssl.SSLContext) -> None:
        if self.verify_mode != ssl.CERT_NONE:
            load(self)

    setattr(ssl.SSLContext, "set_default_verify_paths", load_unless_unverified)  # noqa: B010
    try:
        yield
    finally:
        setattr(ssl.SSLContext, "set_default_verify_paths", load)  # noqa: B010


with _unverified_contexts_without_a_store():
    import aiohttp
