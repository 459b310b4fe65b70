"""Bundle sizes the sink's options and the exporter share (a module of its own, so that
declaring the sink imports no export machinery)."""

from __future__ import annotations

__all__ = ["DEFAULT_PART_SIZE"]

#: fits a DVD (4.7 GB) or a FAT32 stick (4 GiB per file) with room to spare
DEFAULT_PART_SIZE = int(3.5 * 1024**3)
