"""The errors of the bundle machinery, under one base a command or sink can catch.

Every refusal is one line for the operator (an import lists every problem it found);
``in_use`` tells a refusal because another command holds the mirror's lock, which the
command line reports with its own exit code (3).
"""

from __future__ import annotations

__all__ = ["BundleError", "ExportError", "ImportError_", "TargetError"]


class BundleError(Exception):
    """A bundle cannot be exported, read or applied; ``problems`` holds one line each."""

    def __init__(self, message: str, *, problems: list[str] | None = None,
                 in_use: bool = False) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]
        #: refused because another command holds the mirror's lock
        self.in_use = in_use


class TargetError(BundleError):
    """The target cannot be read or written; the message names it."""


class ExportError(BundleError):
    """The export cannot be made; the message is one line for the operator."""


class ImportError_(BundleError):
    """The bundle cannot be applied; ``problems`` holds one line each."""

    def __init__(self, problems: list[str], *, in_use: bool = False) -> None:
        super().__init__("\n".join(problems), problems=problems, in_use=in_use)
