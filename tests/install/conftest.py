"""The loopback upstreams of each registry's own tests, for the plain-install tests."""

from tests.plugins.apt.conftest import apt_up, world
from tests.plugins.conda.conftest import channel
from tests.plugins.git.conftest import git_home, upstream_git
from tests.plugins.homebrew.conftest import brew
from tests.plugins.pypi.conftest import pypi

__all__ = ["apt_up", "brew", "channel", "git_home", "pypi", "upstream_git", "world"]
