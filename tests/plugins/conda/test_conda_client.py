"""A real conda client (py-rattler: the solver and installer of pixi and mamba 2) installs from
the mirror served by a plain static server (the standard library's, as ``python -m
http.server``), with no other channel configured."""

from __future__ import annotations

import asyncio
from pathlib import Path

import rattler
from rattler import BuildString, GenericVirtualPackage, PackageName, Version
from rattler.platform import Subdir

from tests.plugins.conda.channel import Channel
from tests.plugins.conda.helpers import mirror
from tests.support.static_server import StaticSite, serve_directory


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


def check_installed(prefix: Path, site: StaticSite) -> None:
    for name, version in [("app", "1.0"), ("libfoo", "1.2"), ("data", "2.0"), ("libz", "1.3")]:
        assert (prefix / "share" / name / "VERSION").read_text() == f"{name} {version}\n"
        assert list((prefix / "conda-meta").glob(f"{name}-{version}-*.json"))
    served = "\n".join(site.log)
    assert "GET /linux-64/repodata.json.zst" in served  # rattler's first choice
    assert "GET /linux-64/app-1.0-" in served


def test_rattler_installs_from_a_whole_mirror(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    channel.upstream.stop()  # the mirror alone must do
    with serve_directory(dest) as site:
        prefix = install_app(site.url, tmp_path / "client")
    check_installed(prefix, site)


def test_rattler_installs_from_a_selective_mirror(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest, "--package", "app", "--with-deps").code == 0
    channel.upstream.stop()  # the mirror alone must do
    with serve_directory(dest) as site:
        prefix = install_app(site.url, tmp_path / "client")
    check_installed(prefix, site)
