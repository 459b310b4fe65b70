"""Names and paths of Homebrew's OCI registry (``ghcr.io/v2/homebrew/core``) and flat bottles.

As brew's ``GitHubPackages``: the image is the formula name with ``@`` -> ``/`` and ``+`` ->
``x``; a manifest's tag is ``<pkg_version>[-<rebuild>]``; inside the image index each bottle
is a descriptor whose ``org.opencontainers.image.ref.name`` is
``<pkg_version>.<bottle tag>[.<rebuild>]`` and whose ``sh.brew.bottle.digest`` is the
bottle's sha256 (brew refuses to install when it finds no such descriptor).
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

__all__ = [
    "OCI_INDEX_MEDIA_TYPE",
    "OCI_ROOT",
    "BottleRef",
    "ManifestError",
    "blob_path",
    "flat_name",
    "image_name",
    "manifest_path",
    "manifest_tag",
    "read_manifest_bottles",
]

#: Where the OCI tree lives in the mirror (clients: ``HOMEBREW_ARTIFACT_DOMAIN=<mirror>``).
OCI_ROOT = "v2/homebrew/core"
OCI_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
_OCI_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


class ManifestError(ValueError):
    """An image index is not what brew expects."""


def image_name(formula: str) -> str:
    return formula.replace("@", "/").replace("+", "x")


def manifest_tag(pkg_version: str, rebuild: int) -> str:
    tag = f"{pkg_version}-{rebuild}" if rebuild > 0 else pkg_version
    if not _OCI_TAG_RE.match(tag):
        raise ValueError(f"{tag!r} is not a valid OCI tag")
    return tag


def blob_path(formula: str, sha256: str) -> str:
    return f"{OCI_ROOT}/{image_name(formula)}/blobs/sha256:{sha256}"


def manifest_path(formula: str, pkg_version: str, rebuild: int) -> str:
    return f"{OCI_ROOT}/{image_name(formula)}/manifests/{manifest_tag(pkg_version, rebuild)}"


def flat_name(formula: str, pkg_version: str, bottle_tag: str, rebuild: int) -> str:
    """``HOMEBREW_BOTTLE_DOMAIN`` file name: ``<name>-<pkg_version>.<tag>.bottle[.<n>].tar.gz``."""
    suffix = f".{rebuild}" if rebuild > 0 else ""
    return f"{formula}-{pkg_version}.{bottle_tag}.bottle{suffix}.tar.gz"


class BottleRef(NamedTuple):
    """One bottle a client installs: enough to find its blob, manifest and flat name.

    A tuple, because tens of thousands are hashed, sorted and cached per run.
    """

    formula: str
    pkg_version: str
    rebuild: int
    bottle_tag: str
    sha256: str

    @property
    def ref_name(self) -> str:
        suffix = f".{self.rebuild}" if self.rebuild > 0 else ""
        return f"{self.pkg_version}.{self.bottle_tag}{suffix}"

    @property
    def blob_path(self) -> str:
        return blob_path(self.formula, self.sha256)

    @property
    def manifest_path(self) -> str:
        return manifest_path(self.formula, self.pkg_version, self.rebuild)

    @property
    def flat_path(self) -> str:
        name = flat_name(self.formula, self.pkg_version, self.bottle_tag, self.rebuild)
        return f"{OCI_ROOT}/{name}"


def read_manifest_bottles(body: bytes) -> dict[str, tuple[str, int | None]]:
    """``{ref name: (bottle sha256, bottle size)}`` from an image index's bytes."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ManifestError(f"not a JSON image index ({exc})") from None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        raise ManifestError("image index has no 'manifests' list")
    out: dict[str, tuple[str, int | None]] = {}
    for desc in manifests:
        ann = desc.get("annotations") if isinstance(desc, dict) else None
        if not isinstance(ann, dict):
            continue
        ref, digest = ann.get("org.opencontainers.image.ref.name"), ann.get(
            "sh.brew.bottle.digest")
        if not isinstance(ref, str) or not isinstance(digest, str):
            continue
        size_text = ann.get("sh.brew.bottle.size")
        size: int | None = None
        if isinstance(size_text, str) and size_text.isdigit():
            if len(size_text) > 19:  # past 2**63: no bottle is that big, the index is broken
                raise ManifestError(f"{ref}: sh.brew.bottle.size {size_text[:30]}... is not "
                                    "a plausible size")
            size = int(size_text)
        out[ref] = (digest, size)
    return out
