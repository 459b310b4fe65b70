"""The changeset: which writes and deletions a commit makes, and the one order they go in."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorkit.core.plan.artifact import Kind
from mirrorkit.core.store import (
    Changeset,
    Link,
    PathConflict,
    Put,
    apply_changeset,
    build_changeset,
)
from mirrorkit.core.store.manifest import FileEntry, Manifest

SHA = "a" * 64


def entry(kind: Kind = Kind.BLOB, order: int = 0) -> FileEntry:
    return FileEntry(1, SHA, kind, order=order)


class Recorder:
    """A store that writes down the calls it gets, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def describe(self) -> str:
        return "recorder"

    def preflight(self, changes: Changeset) -> None:
        self.calls.append(("preflight", []))

    def put_many(self, puts: list[Put]) -> None:
        self.calls.append(("put", [p.path for p in puts]))

    def link(self, links: list[Link]) -> None:
        self.calls.append(("link", [lk.path for lk in links]))

    def delete_many(self, paths: list[str]) -> int:
        self.calls.append(("delete", list(paths)))
        return len(paths)

    def publish(self, manifest: Manifest) -> None:
        self.calls.append(("manifest", sorted(manifest.files)))


def test_apply_order_is_clear_blobs_links_index_waves_deletes_manifest(tmp_path: Path) -> None:
    old = {"x": entry(), "gone.bin": entry(), "d/f": entry()}
    new = {"x/y": entry(), "d": entry(), "b.bin": entry(), "l.bin": entry(),
           "top.json": entry(Kind.INDEX, order=2), "m/1": entry(Kind.INDEX),
           "m/2": entry(Kind.INDEX)}
    manifest = Manifest(mirror="m", snapshot="s", files=new)
    puts = [Put(p, e, tmp_path / p) for p, e in new.items() if p != "l.bin"]
    changes = build_changeset(old, manifest, puts, links=[Link("l.bin", "b.bin")], where="t")
    store = Recorder()
    assert apply_changeset(changes, store) == 3
    assert store.calls == [
        ("preflight", []),
        ("delete", ["d/f", "x"]),  # in the way of d (now a file) and x/y (x now a directory)
        ("put", ["b.bin", "d", "x/y"]),
        ("link", ["l.bin"]),
        ("put", ["m/1", "m/2"]),
        ("put", ["top.json"]),
        ("delete", ["gone.bin"]),
        ("manifest", sorted(new)),
    ]


@pytest.mark.parametrize("paths", [["x", "x/y"], ["a/b", "a/b/c/d", "z"]])
def test_a_path_both_file_and_directory_is_refused(paths: list[str]) -> None:
    manifest = Manifest(mirror="m", files={p: entry() for p in paths})
    with pytest.raises(PathConflict, match="is both a file and the directory of"):
        build_changeset({}, manifest, [], where="t")
