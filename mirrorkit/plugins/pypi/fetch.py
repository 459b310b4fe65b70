"""Asking the upstream index: the root listing (serials) and one project's page."""

from __future__ import annotations

from mirrorkit.api import FetchError, PlanContext, PlanError, Validators

from .simple import ACCEPT, PageError, ProjectPage, RootListing, parse_project, parse_root

__all__ = ["fetch_project", "fetch_root"]

SERIAL_HEADER = "X-PyPI-Last-Serial"


async def fetch_root(ctx: PlanContext, index_url: str) -> RootListing:
    """The root listing; an upstream that refuses it simply offers no serials."""
    try:
        resp = await ctx.get(index_url, headers={"Accept": ACCEPT},
                             max_bytes=512 * 1024 * 1024)
    except FetchError as exc:
        ctx.log.info("no root listing at %s (%s): every page is asked for", index_url,
                     exc.reason)
        return RootListing()
    try:
        return parse_root(resp.content, resp.headers.get("Content-Type") or "",
                          resp.headers.get(SERIAL_HEADER))
    except PageError as exc:
        raise PlanError(f"{exc} ({index_url})") from None


async def fetch_project(ctx: PlanContext, index_url: str, norm: str,
                        validators: Validators | None
                        ) -> tuple[ProjectPage | None, Validators | None]:
    """``(page, validators)``; ``(None, validators)`` when upstream answers that the page
    ``validators`` came with still holds (304)."""
    url = f"{index_url}{norm}/"
    try:
        resp = await ctx.get(url, headers={"Accept": ACCEPT}, conditional=validators or None)
    except FetchError as exc:
        if exc.status == 404:
            raise PlanError(f"project {norm!r} is not on {index_url} (HTTP 404 for {url})") \
                from None
        raise PlanError(f"project {norm}: {exc.reason} ({url})") from None
    if resp.not_modified:
        return None, validators
    try:
        page = parse_project(resp.content, resp.headers.get("Content-Type") or "",
                             str(resp.url), norm, resp.headers.get(SERIAL_HEADER))
    except PageError as exc:
        raise PlanError(f"{exc} ({url})") from None
    return page, resp.validators or None
