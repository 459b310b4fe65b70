"""The apt repositories of tests/plugins/apt, for the secret tests that mirror one."""

from tests.plugins.apt.conftest import world

__all__ = ["world"]
