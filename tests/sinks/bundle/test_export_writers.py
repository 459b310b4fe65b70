"""The two ways an uncompressed export is written give the same bytes.

Parts are written in parallel from a layout computed ahead, unless each part would hold
tens of thousands of files; then one stream is cut as it comes. An S3 export resumed by
the other writer, or a re-run on another machine, must produce identical parts.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from mirrorkit.core.bundle import export, tarstream
from mirrorkit.core.store.manifest import load_manifest
from tests.sinks.bundle.bundle_helpers import make_mirror, random_files

SNAP = "20260101T000000Z-aaaaaa"


def _parts(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if ".tar." in p.name}


def test_parallel_and_streamed_exports_are_byte_identical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    files = {**random_files(40, 3000, prefix="small"), **random_files(3, 70_000, seed=1)}
    make_mirror(src, files, snapshot=SNAP)

    parallel = export.export_bundle(src, str(tmp_path / "parallel"), part_size=16 * 1024,
                                    full=True)
    monkeypatch.setattr(export, "MAX_FILES_PER_PARALLEL_PART", 0)
    streamed = export.export_bundle(src, str(tmp_path / "streamed"), part_size=16 * 1024,
                                    full=True)

    assert parallel.toc is not None and streamed.toc is not None
    assert len(parallel.toc.parts) > 4  # boundaries fall inside headers and file data
    assert parallel.toc.parts == streamed.toc.parts
    assert _parts(tmp_path / "parallel") == _parts(tmp_path / "streamed")


def test_file_replaced_during_export_is_refused(tmp_path: Path) -> None:
    """A same-size file swapped in after the layout was made must not be half-copied."""
    src = tmp_path / "src"
    make_mirror(src, random_files(2, 5000), snapshot=SNAP)
    name, entry = sorted(load_manifest(src).files.items())[0]  # type: ignore[union-attr]
    pieces = [p for p in tarstream.tar_pieces(src, [(name, entry)]) if p.path]
    target = src / name
    replacement = tmp_path / "new"
    replacement.write_bytes(b"x" * entry.size)  # same size, another file
    os.replace(replacement, target)
    with pytest.raises(tarstream.ExportError, match="changed while being exported"):
        tarstream.copy_piece(pieces[0], io.BytesIO(), bytearray(4096))
