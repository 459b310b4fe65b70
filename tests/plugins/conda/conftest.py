from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.conda.channel import Channel, Pkg, make_channel
from tests.support.upstream import Upstream

# app (linux-64) needs libfoo >=1.1 (1.1 as .tar.bz2 and 1.2 as .conda satisfy it, 1.0 not)
# and data (noarch), which needs zlib-like "libz"; "other" is never selected by app.
PKGS = [
    Pkg("libfoo", "1.0", "linux-64"),
    Pkg("libfoo", "1.1", "linux-64", fmt=".tar.bz2"),
    Pkg("libfoo", "1.2", "linux-64"),
    Pkg("libz", "1.3", "linux-64", fmt=".tar.bz2"),
    Pkg("data", "2.0", "noarch", ("libz >=1.3",)),
    Pkg("app", "1.0", "linux-64", ("libfoo >=1.1", "data", "__glibc >=2.17")),
    Pkg("other", "0.1", "noarch"),
    Pkg("other", "0.1", "osx-arm64"),
]


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[Channel]:
    upstream = Upstream().start()
    try:
        chan = make_channel(tmp_path, upstream)
        chan.add(*PKGS)
        chan.publish()
        yield chan
    finally:
        upstream.stop()
