"""A delta made for another base, imported from its directory, is refused, not a no-op.

``import DIR`` used to pick nothing to apply, print ``already at snapshot ...; nothing to
import`` and exit 0 when the mirror's snapshot sorted after the delta's, though the mirror
never held the delta's base nor its snapshot: an operator would believe the transfer done.
"""

from __future__ import annotations

from pathlib import Path

from tests.hostile.harness import Sentinel, assert_clear_error, invoke, snapshot
from tests.sinks.bundle.bundle_helpers import make_mirror, random_files

BASE = "20260101T000000Z-aaaaaa"
NEXT = "20260102T000000Z-bbbbbb"
LATER = "20260109T000000Z-cccccc"  # sorts after the delta's snapshot


def test_a_delta_for_another_base_is_refused_from_its_directory(tmp_path: Path) -> None:
    src, media = tmp_path / "src", tmp_path / "media"
    files = random_files(3, 500)
    make_mirror(src, files, snapshot=BASE)
    assert invoke("export", src, "--to", tmp_path / "first").code == 0
    files["blobs/000.bin"] = b"changed"
    make_mirror(src, files, snapshot=NEXT)
    assert invoke("export", src, "--to", media, "--since", BASE).code == 0
    assert [p.name for p in media.glob("*.toc.json")] == [f"demo-{NEXT}-delta.toc.json"]

    world = tmp_path / "world"
    dest = world / "mirror"
    make_mirror(dest, {"other.txt": b"another line of snapshots\n"}, snapshot=LATER)
    sentinel = Sentinel(world, dest)
    before = snapshot(dest)
    out = invoke("import", media, "--into", dest)
    assert_clear_error(out, 1, f"holds snapshot {LATER}", "no bundle", BASE)
    assert "nothing to import" not in out.stderr
    assert snapshot(dest) == before
    sentinel.assert_untouched()


def test_a_mirror_already_at_the_newest_bundle_has_nothing_to_import(tmp_path: Path) -> None:
    src, media, dest = tmp_path / "src", tmp_path / "media", tmp_path / "dest"
    files = random_files(2, 300)
    make_mirror(src, files, snapshot=BASE)
    assert invoke("export", src, "--to", media).code == 0
    files["blobs/001.bin"] = b"v2"
    make_mirror(src, files, snapshot=NEXT)
    assert invoke("export", src, "--to", media).code == 0
    assert invoke("import", media, "--into", dest).code == 0
    before = snapshot(dest)
    out = invoke("import", media, "--into", dest)
    assert out.code == 0, out.stderr
    assert f"already at snapshot {NEXT}; nothing to import" in out.stderr
    assert snapshot(dest) == before
