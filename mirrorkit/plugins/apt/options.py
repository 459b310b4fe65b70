"""Options of ``mirrorkit run apt``: a mirror list, TOML sources, or one repository by flags.

The three forms end in the same list of :class:`~.sources.SuiteSpec`; only the one-repository
form lays its repository at the mirror root (the others keep apt-mirror's ``host/path/``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AptOptions", "AptSource"]


class AptSource(BaseModel):
    """One ``[[mirrors.sources]]`` entry: a ``deb``/``deb-src`` line as TOML keys."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Repository base URL; https://bearer:${TOKEN}@host/... for "
                     "credentials (sent as HTTP Basic).")
    suite: str
    components: list[str] = Field(min_length=1)
    arch: list[str] = Field(default_factory=list,
                            description="Architectures (default: the mirror's default).")
    binary: bool = Field(True, description="Mirror binary packages (a deb line).")
    source: bool = Field(False, description="Mirror source packages (a deb-src line).")
    signed_by: Path | None = Field(None, description="Keyring the suite must be signed with.")
    clean: bool = Field(False, description="Remove files no longer listed upstream.")


class AptOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mirror_list: Path | None = Field(
        None, description="apt-mirror's mirror.list file (set/deb/deb-src/clean lines).",
        json_schema_extra={"metavar": "FILE"})
    sources: list[AptSource] = Field(
        default_factory=list, json_schema_extra={"cli": False},
        description="Repositories as TOML tables (the config file's form of a mirror list).")
    url: str | None = Field(None, description="One repository's base URL (laid at --dest "
                            "itself).", json_schema_extra={"metavar": "URL"})
    suite: str | None = Field(None, description="With --url: the suite (dists/SUITE).",
                              json_schema_extra={"metavar": "SUITE"})
    component: list[str] = Field(default_factory=list, description="With --url: a component.",
                                 json_schema_extra={"cli": "--component"})
    arch: list[str] = Field(default_factory=list,
                            description="With --url or sources: an architecture (default: "
                            "the list's defaultarch, else this machine's).",
                            json_schema_extra={"cli": "--arch"})
    source: bool = Field(False, description="With --url: mirror source packages too.")
    binary: bool = Field(True, description="With --url: mirror binary packages.")
    keyring: Path | None = Field(
        None, description="OpenPGP keyring every suite without signed-by must verify against "
        "(gpgv). Without one, signatures are not checked.", json_schema_extra={"metavar": "FILE"})
    clean: bool = Field(False, description="With --url: remove files no longer listed upstream "
                        "(a mirror list says this with 'clean URL').")
    udeb: bool = Field(False, description="Also mirror debian-installer (.udeb) packages.")
    contents: bool | None = Field(None, description="Also mirror Contents-* files (default: "
                                  "the list's _contents, else no).")
    translations: bool = Field(False, description="Also mirror i18n/Translation-* files.")

    @model_validator(mode="after")
    def _one_form(self) -> AptOptions:
        forms = [name for name, given in (("mirror_list", self.mirror_list is not None),
                                          ("sources", bool(self.sources)),
                                          ("url", self.url is not None)) if given]
        if len(forms) != 1:
            raise ValueError("give exactly one of mirror_list (--mirror-list), sources, or "
                             "url (--url with --suite and --component)")
        if self.url is not None and (not self.suite or not self.component):
            raise ValueError("--url needs --suite and at least one --component")
        if self.url is None and (self.suite or self.component):
            raise ValueError("--suite and --component go with --url")
        return self
