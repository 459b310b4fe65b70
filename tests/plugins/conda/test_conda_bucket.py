"""A conda mirror that lives in a bucket (``--dest s3://...``, moto over HTTP), through the CLI.

What a re-run costs there: the work directory is new each run, so whatever the plugin
keeps between runs must come from the snapshot's plugin state and plan record.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugins.conda.channel import Channel, Pkg
from tests.plugins.conda.helpers import mirror
from tests.support.s3 import bucket_objects, new_bucket
from tests.support.upstream import Request

INDEX = {"repodata.json", "repodata.json.zst", "repodata.json.bz2", "current_repodata.json",
         "channeldata.json"}
SELECTION = ("--package", "app", "--with-deps")


def published(objs: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """The objects clients read: everything but mirrorkit's own ``.mirrorkit/``."""
    return {k: v for k, v in objs.items() if not k.startswith("conda-forge/.mirrorkit/")}


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    return new_bucket("conda")


def packages_fetched(log: list[Request]) -> list[str]:
    return sorted(r.path.removeprefix("/chan/") for r in log
                  if r.method == "GET" and r.path.rsplit("/", 1)[-1] not in INDEX)


def run(channel: Channel, bucket: str, *extra: str, subdirs: tuple[str, ...] = ("linux-64",)
        ) -> dict[str, Any]:
    result = mirror(channel, f"s3://{bucket}/conda-forge", *extra, subdirs=subdirs)
    assert result.code == 0, result.stderr
    report: dict[str, Any] = result.json
    return report


def test_whole_noop_into_a_bucket_downloads_nothing_and_changes_no_object(
        channel: Channel, bucket: str) -> None:
    first = run(channel, bucket)
    assert first["notes"]["conda"]["parsed_subdirs"] == ["linux-64", "noarch"]
    before = bucket_objects(bucket)
    assert "conda-forge/linux-64/repodata.json" in before
    channel.upstream.clear_log()
    again = run(channel, bucket)
    assert again["notes"]["conda"] == {"kept_plan": True}
    assert again["downloaded"] == 0 and again["removed"] == 0
    log = channel.upstream.log
    gets = [r for r in log if r.method == "GET"]
    # only the index files are asked for, each conditionally (the core's validators,
    # kept in the bucket's manifest); HEAD probes see which variants the channel has
    assert gets and {r.path.rsplit("/", 1)[-1] for r in gets} == INDEX
    assert all("If-None-Match" in r.headers for r in gets), [r.path for r in gets]
    assert packages_fetched(log) == []
    assert bucket_objects(bucket) == before


def test_selective_state_lives_in_the_bucket(channel: Channel, bucket: str) -> None:
    first = run(channel, bucket, *SELECTION)
    assert first["notes"]["conda"]["selected"] == {"linux-64": 4, "noarch": 1}
    before = bucket_objects(bucket)
    channel.upstream.clear_log()
    # a new work directory, yet every upstream input is asked for with the validators the
    # first run kept in plugin state: nothing comes back but 304s, and the selection is
    # made again from the bodies kept there
    second = run(channel, bucket, *SELECTION)
    gets = [r for r in channel.upstream.log if r.method == "GET"]
    assert {r.path for r in gets} == {"/chan/linux-64/repodata.json.zst",
                                      "/chan/noarch/repodata.json.zst", "/chan/channeldata.json"}
    assert all("If-None-Match" in r.headers for r in gets), [r.path for r in gets]
    assert second["downloaded"] == 0 and second["removed"] == 0
    assert second["snapshot"] == first["snapshot"]
    after = bucket_objects(bucket)
    assert published(after) == published(before)
    # the core records a 304 otherwise than the 200 the first run got: the second run
    # saves its own plan record in place of the first one (one state object, and the
    # manifest naming it); no other object changes
    changed = {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)}
    state = {k for k in changed if k.startswith("conda-forge/.mirrorkit/state/")}
    assert changed - state == {"conda-forge/.mirrorkit/published.json"} and len(state) == 2
    # its answers are those the last run recorded: the plan is kept as it is
    channel.upstream.clear_log()
    third = run(channel, bucket, *SELECTION)
    assert third["notes"]["conda"] == {"kept_plan": True}
    assert packages_fetched(channel.upstream.log) == []
    assert bucket_objects(bucket) == after


def test_one_changed_subdir_is_parsed_and_the_other_kept(
        channel: Channel, bucket: str) -> None:
    run(channel, bucket)
    fresh = Pkg("fresh", "1.0", "noarch")
    channel.add(fresh)
    channel.publish()
    channel.upstream.clear_log()
    changed = run(channel, bucket)
    assert changed["notes"]["conda"] == {"kept_subdirs": ["linux-64"],
                                         "parsed_subdirs": ["noarch"]}
    assert packages_fetched(channel.upstream.log) == [fresh.path]
    noarch = {f"noarch/{name}" for name in INDEX - {"channeldata.json"}}
    assert {c["path"] for c in changed["changes"]} == {fresh.path, "channeldata.json", *noarch}
    after = bucket_objects(bucket)
    assert after[f"conda-forge/{fresh.path}"][1] == channel.upstream.files[
        f"/chan/{fresh.path}"].body
    # every package linux-64 lists is still in the bucket
    linux = [p for p in channel.packages if p.subdir == "linux-64"]
    assert all(f"conda-forge/{p.path}" in after for p in linux)
