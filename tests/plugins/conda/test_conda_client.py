"""A real conda client (py-rattler: the solver and installer of pixi and mamba 2) installs from
the mirror served by ``python -m http.server``, with no other channel configured."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import rattler
from rattler import BuildString, GenericVirtualPackage, PackageName, Version
from rattler.platform import Subdir

from tests.plugins.conda.channel import Channel
from tests.plugins.conda.helpers import mirror


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def static_server(root: Path, log: Path) -> Iterator[str]:
    port = _free_port()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def install_app(channel_url: str, work: Path) -> Path:
    """Solve ``app`` for linux-64 from the mirror alone and install it into a fresh prefix."""
    prefix = work / "env"

    async def main() -> list[str]:
        gateway = rattler.Gateway(cache_dir=work / "repodata-cache")
        glibc = GenericVirtualPackage(PackageName("__glibc"), Version("2.28"), BuildString("0"))
        records = await rattler.solve(
            sources=[channel_url], specs=["app"], gateway=gateway,
            platforms=[Subdir("linux-64"), Subdir("noarch")], virtual_packages=[glibc])
        await rattler.install(records, target_prefix=prefix, cache_dir=work / "pkgs",
                              platform=Subdir("linux-64"), show_progress=False,
                              execute_link_scripts=False)
        return sorted(f"{r.name.normalized}-{r.version}" for r in records)

    solved = asyncio.run(main())
    # the newest libfoo that satisfies app's "libfoo >=1.1", and data's own dependency
    assert solved == ["app-1.0", "data-2.0", "libfoo-1.2", "libz-1.3"]
    return prefix


def check_installed(prefix: Path, log: Path) -> None:
    for name, version in [("app", "1.0"), ("libfoo", "1.2"), ("data", "2.0"), ("libz", "1.3")]:
        assert (prefix / "share" / name / "VERSION").read_text() == f"{name} {version}\n"
        assert list((prefix / "conda-meta").glob(f"{name}-{version}-*.json"))
    served = log.read_text()
    assert "GET /linux-64/repodata.json.zst" in served  # rattler's first choice
    assert "GET /linux-64/app-1.0-" in served


def test_rattler_installs_from_a_whole_mirror(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    channel.upstream.stop()  # the mirror alone must do
    log = tmp_path / "server.log"
    with static_server(dest, log) as url:
        prefix = install_app(url, tmp_path / "client")
    check_installed(prefix, log)


def test_rattler_installs_from_a_selective_mirror(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest, "--package", "app", "--with-deps").code == 0
    channel.upstream.stop()  # the mirror alone must do
    log = tmp_path / "server.log"
    with static_server(dest, log) as url:
        prefix = install_app(url, tmp_path / "client")
    check_installed(prefix, log)
