"""Options of ``mirrorkit run pypi`` (the same keys work in a ``[[mirrors]]`` TOML entry).

Requirement strings are checked here with ``packaging`` so that a typo is a configuration
error naming the flag, before anything is fetched. The requirements files are read once,
here: what they say is part of the options (``requirements_read``), which the core compares
between runs before it keeps the previous plan.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

__all__ = ["PyPIOptions"]

_PY_VERSION = re.compile(r"^3\.\d{1,2}$")
_PLATFORM = re.compile(r"^[a-z0-9_.]+$")


class PyPIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: the requirement lines of ``requirements`` (and the files they include)
    _from_files: list[str] = PrivateAttr(default_factory=list)

    index_url: str = Field(
        "https://pypi.org/simple/",
        description="The upstream simple index (PEP 691 JSON, or PEP 503 HTML).",
        json_schema_extra={"metavar": "URL"},
    )
    packages: list[str] = Field(
        default_factory=list,
        description="A project to mirror as a requirement: 'requests' (every version and "
        "file), 'idna>=3', 'numpy==2.*', 'requests[socks]' (extras count with --with-deps).",
        json_schema_extra={"cli": "--package", "metavar": "SPEC"},
    )
    requirements: list[Path] = Field(
        default_factory=list, validate_default=True,
        description="A requirements file (one requirement a line, as pip reads it; "
        "'-r other.txt' includes and '--hash' options are understood).",
        json_schema_extra={"cli": "--requirements", "metavar": "FILE"},
    )
    with_deps: bool = Field(
        False, description="Also mirror the dependency closure (Requires-Dist, markers "
        "evaluated for --python-version and --platform).",
    )
    dep_versions: int = Field(
        1, ge=0, le=1000,
        description="Versions kept of each dependency requirement: the newest N that match "
        "it (0: every matching version).",
        json_schema_extra={"metavar": "N"},
    )
    python_versions: list[str] = Field(
        default_factory=list,
        description="A Python version the mirror is for, e.g. 3.12: selects wheels, "
        "requires-python and markers (default: every version).",
        json_schema_extra={"cli": "--python-version", "metavar": "X.Y"},
    )
    platforms: list[str] = Field(
        default_factory=list,
        description="A wheel platform tag the mirror is for, e.g. manylinux_2_28_x86_64, "
        "macosx_14_0_arm64, win_amd64 (default: every platform).",
        json_schema_extra={"cli": "--platform", "metavar": "TAG"},
    )
    sdist: bool = Field(
        True, description="Mirror source distributions (--no-sdist: wheels only, as pip's "
        "--only-binary :all: installs).",
    )

    @field_validator("index_url")
    @classmethod
    def _index_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("packages")
    @classmethod
    def _packages(cls, values: list[str]) -> list[str]:
        from .reqspec import check_requirement

        return [check_requirement(v) for v in values]

    @field_validator("python_versions")
    @classmethod
    def _python_versions(cls, values: list[str]) -> list[str]:
        for v in values:
            if not _PY_VERSION.match(v):
                raise ValueError(f"{v!r} is not a Python version like 3.12")
        return values

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, values: list[str]) -> list[str]:
        for v in values:
            if not _PLATFORM.match(v) or v == "any":
                raise ValueError(f"{v!r} is not a wheel platform tag like manylinux_2_28_x86_64")
        return values

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, values: list[Path], info: ValidationInfo) -> list[Path]:
        from .reqfile import read_requirements

        for path in values:
            read_requirements(path)  # raises ValueError("FILE:LINE: ...")
        if not values and not info.data.get("packages"):
            raise ValueError("give a project to mirror: packages (--package SPEC) or "
                             "requirements (--requirements FILE)")
        return values

    @model_validator(mode="after")
    def _read_requirement_files(self) -> PyPIOptions:
        from .reqfile import read_requirements

        self._from_files = [r for path in self.requirements for r in read_requirements(path)]
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requirements_read(self) -> str:
        """The sha256 of what the requirements files said when the options were read.

        The core keeps the previous plan only when the mirror's options (their dump, this
        included) are the last run's: an edited file must count as a changed input,
        though its path is the same.
        """
        return hashlib.sha256("\n".join(self._from_files).encode()).hexdigest()

    def requirement_strings(self) -> list[str]:
        """Every requirement: the ``packages`` given, then the files' lines."""
        return [*self.packages, *self._from_files]
