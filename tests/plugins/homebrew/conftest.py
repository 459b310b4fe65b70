from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.homebrew.fake_brew import FakeHomebrew, serve_fake_homebrew
from tests.support.brew_client import BrewClient, brew_tarball
from tests.support.jws_signer import signer

TAGS = ["arm64_tahoe", "arm64_sequoia", "x86_64_linux"]


@pytest.fixture
def brew() -> Iterator[FakeHomebrew]:
    yield from serve_fake_homebrew(TAGS)


@pytest.fixture(scope="session")
def brew_client(tmp_path_factory: pytest.TempPathFactory) -> BrewClient:
    """brew 4.3.0, unpacked once per session and trusting the tests' API key."""
    missing = None
    try:
        brew_tarball()
    except FileNotFoundError as exc:
        missing = str(exc)
    if missing is not None:  # a failure, not a skip: CI must have the client
        pytest.fail(missing, pytrace=False)
    return BrewClient.create(tmp_path_factory.mktemp("brew-4.3.0"), signer().public_pem)
