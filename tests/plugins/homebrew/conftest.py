from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.homebrew.fake_brew import FakeHomebrew, serve_fake_homebrew

TAGS = ["arm64_tahoe", "arm64_sequoia", "x86_64_linux"]


@pytest.fixture
def brew() -> Iterator[FakeHomebrew]:
    yield from serve_fake_homebrew(TAGS)
