"""The one way a run talks HTTP: client, auth, limits, retries, caps (see client.py).

This package's top level holds only what plugins and settings need (auth, the response type,
the settings); :mod:`.client` (which imports aiohttp) is imported by the run that uses it.
"""

from .auth import ANONYMOUS_TOKEN, Ask, Auth, BasicAuth, OCIBearerAuth, parse_bearer_challenge
from .response import Response, Validators
from .settings import TransportSettings

__all__ = [
    "ANONYMOUS_TOKEN",
    "Ask",
    "Auth",
    "BasicAuth",
    "OCIBearerAuth",
    "Response",
    "TransportSettings",
    "Validators",
    "parse_bearer_challenge",
]
