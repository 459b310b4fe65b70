"""From options (a mirror list, TOML sources or flags) to the suites to mirror."""

from __future__ import annotations

from dataclasses import dataclass, field

from .mirrorlist import MirrorList, host_architecture, read_mirror_list
from .options import AptOptions
from .sources import Suite, SuiteSpec, group_suites, split_credentials

__all__ = ["Resolved", "resolve"]


@dataclass(slots=True)
class Resolved:
    suites: list[Suite]
    specs: list[SuiteSpec]
    contents: bool
    ignored: list[str] = field(default_factory=list)

    @property
    def clean_prefixes(self) -> list[str]:
        return sorted({s.repo.prefix for s in self.suites if s.repo.clean})


def resolve(options: AptOptions) -> Resolved:
    listed: MirrorList | None = None
    if options.mirror_list is not None:
        listed = read_mirror_list(options.mirror_list)
        specs, clean, at_root = listed.specs, listed.clean, False
    elif options.sources:
        default = options.arch or [host_architecture()]
        specs = [SuiteSpec(s.url, s.suite, list(s.components), arches=list(s.arch or default),
                           binary=s.binary, source=s.source, keyring=s.signed_by,
                           where=f"sources[{i}]")
                 for i, s in enumerate(options.sources)]
        clean = {split_credentials(s.url)[0] for s in options.sources if s.clean}
        at_root = False
    else:
        assert options.url is not None and options.suite is not None
        specs = [SuiteSpec(options.url, options.suite, list(options.component),
                           arches=list(options.arch or [host_architecture()]),
                           binary=options.binary, source=options.source, where="--url")]
        clean = {split_credentials(options.url)[0]} if options.clean else set()
        at_root = True
    suites = group_suites(specs, at_root=at_root, clean_urls=clean, keyring=options.keyring)
    contents = options.contents
    if contents is None:
        contents = bool(listed and listed.flag("_contents"))
    return Resolved(suites, specs, contents, listed.ignored if listed else [])
