"""The loopback upstream of the tests: the one plugin authors get from :mod:`mirrorkit.testing`."""

from mirrorkit.testing import Fault, Handler, Request, Resource, Route, Upstream

__all__ = ["Fault", "Handler", "Request", "Resource", "Route", "Upstream"]
