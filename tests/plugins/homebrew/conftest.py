from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.homebrew.fake_brew import FakeHomebrew, catalog
from tests.support.upstream import Upstream

TAGS = ["arm64_tahoe", "arm64_sequoia", "x86_64_linux"]


@pytest.fixture
def brew() -> Iterator[FakeHomebrew]:
    api, cdn = Upstream().start(), Upstream().start()
    try:
        fake = FakeHomebrew(api, cdn, catalog(), TAGS)
        fake.publish()
        yield fake
    finally:
        api.stop()
        cdn.stop()
