"""Records as they come: md5-only packages, hostile file names, broken repodata."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plugins.conda.channel import WHEN, Channel
from tests.plugins.conda.helpers import mirror
from tests.support.trees import files


def serve_repodata(channel: Channel, subdir: str, doc: dict[str, object]) -> None:
    """Replace a subdir's index by ``doc`` alone (no variants to disagree with it)."""
    for name in ("repodata.json.zst", "repodata.json.bz2", "current_repodata.json"):
        channel.upstream.remove(f"/chan/{subdir}/{name}")
    channel.upstream.add(f"/chan/{subdir}/repodata.json", json.dumps(doc).encode(),
                         last_modified=WHEN + 60)


def test_md5_only_records_are_verified_by_md5(channel: Channel, tmp_path: Path) -> None:
    doc = json.loads(channel.upstream.files["/chan/noarch/repodata.json"].body)
    for section in ("packages", "packages.conda"):
        for record in doc.get(section, {}).values():
            del record["sha256"]
    serve_repodata(channel, "noarch", doc)
    victim = next(p for p in channel.packages if p.name == "data")
    channel.upstream.fault(f"/chan/{victim.path}", "corrupt", times=10)
    result = mirror(channel, tmp_path / "m")
    assert result.code == 1
    errors = {e["path"]: e["error"] for e in result.json["errors"]}
    assert "md5 mismatch" in errors[victim.path]
    channel.upstream.faults.clear()
    retry = mirror(channel, tmp_path / "m")
    assert retry.code == 0, retry.stderr
    assert (tmp_path / "m" / victim.path).exists()


def test_file_name_leaving_the_subdir_is_refused(channel: Channel, tmp_path: Path) -> None:
    doc = json.loads(channel.upstream.files["/chan/noarch/repodata.json"].body)
    record = next(iter(doc["packages.conda"].values()))
    doc["packages.conda"]["../../etc/evil.conda"] = record
    serve_repodata(channel, "noarch", doc)
    result = mirror(channel, tmp_path / "m")
    assert result.code == 1
    assert "noarch/repodata.json: packages.conda['../../etc/evil.conda'] is not a .conda " \
        "file name" in result.stderr
    assert files(tmp_path / "m") <= {p.path for p in channel.packages}  # no index committed
    assert not (tmp_path / "etc").exists()


def test_repodata_that_is_not_json_fails_in_one_line(channel: Channel, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    assert mirror(channel, dest).code == 0
    before = (dest / "linux-64/repodata.json").read_bytes()
    channel.upstream.remove("/chan/linux-64/repodata.json.zst")
    channel.upstream.remove("/chan/linux-64/repodata.json.bz2")
    channel.upstream.add("/chan/linux-64/repodata.json", b'{"packages": {"a.tar.bz2": {',
                         last_modified=WHEN + 60)
    result = mirror(channel, dest)
    assert result.code == 1
    assert "linux-64/repodata.json: not valid JSON" in result.stderr
    assert (dest / "linux-64/repodata.json").read_bytes() == before
