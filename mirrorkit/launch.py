"""The ``mirrorkit`` command's entry point: the download process first, then the CLI."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    from .core.download_fork import fork_early

    fork_early(sys.argv[1:])
    from .cli import main as cli_main

    cli_main()
