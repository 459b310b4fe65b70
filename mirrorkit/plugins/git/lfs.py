"""Git LFS objects of a mirrored repository: found in its refs, fetched by the batch API.

A repository that uses LFS holds only small *pointer* files; the content lives on an LFS
server. The mirror keeps that content beside the repository, as
``lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>``: the layout git-lfs itself uses, which its
standalone file transfer reads (``lfs.url=file:///srv/mirror/repo.git``), so clients need
no LFS server inside the air gap.

Objects are content-addressed blobs of the plan: verified against their oid (sha256) and
size by the core, committed before the refs that name them, never rewritten in place
(git-lfs hard-links them into clients). An object the mirror already has costs no request:
the batch API is asked only for the objects the mirror lacks, so an object upstream can no
longer give stays mirrored as long as a ref names it, wherever the mirror lives.

Finding the pointers walks the repository; the answer is kept in the plugin state
(``ctx.state``) per repository, keyed by the ref tips, so a re-run whose refs did not move
does not walk again, into a bucket as well.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import anyio

from mirrorkit.api import Artifact, BasicAuth, Digest, FetchError, PlanContext, PlanError

from .gitcmd import GitError, git_env, redact

__all__ = ["LfsPointer", "PointerScans", "lfs_endpoint", "object_path", "parse_pointer",
           "plan_lfs", "scan_pointers"]

#: git-lfs reads blobs smaller than this as possible pointers (its ``blobSizeCutoff``).
POINTER_MAX = 1024
#: Objects per batch request (git-lfs asks for 100 at a time).
BATCH_SIZE = 100
_SPEC = (b"version https://git-lfs.github.com/spec/v1", b"version https://hawser.github.com/spec/v1")
_OID = re.compile(rb"oid sha256:([0-9a-f]{64})")
_SIZE = re.compile(rb"size ([0-9]{1,19})")
_LFS_JSON = "application/vnd.git-lfs+json"


@dataclass(frozen=True, slots=True)
class LfsPointer:
    oid: str
    size: int


def parse_pointer(data: bytes) -> LfsPointer | None:
    """The object a pointer file names, or None when ``data`` is not a pointer.

    The format (git-lfs spec v1): a ``version`` line first, then ``key value`` lines, each
    ending in a newline, among them ``oid sha256:<hex>`` and ``size <bytes>``.
    """
    if len(data) >= POINTER_MAX or not data.endswith(b"\n"):
        return None
    lines = data[:-1].split(b"\n")
    if lines[0] not in _SPEC:
        return None
    oid = size = None
    for line in lines[1:]:
        if m := _OID.fullmatch(line):
            oid = m.group(1).decode()
        elif m := _SIZE.fullmatch(line):
            size = int(m.group(1))
        elif b" " not in line:
            return None
    return LfsPointer(oid, size) if oid is not None and size is not None else None


def object_path(oid: str) -> str:
    """Where git-lfs keeps an object, relative to the repository."""
    return f"lfs/objects/{oid[0:2]}/{oid[2:4]}/{oid}"


def lfs_endpoint(url: str) -> tuple[str, BasicAuth | None]:
    """git-lfs's endpoint for a remote URL, and the URL's credentials as Basic auth.

    git-lfs's rule: ``<url>/info/lfs`` for a URL ending in ``.git``, else
    ``<url>.git/info/lfs``. Only http(s) remotes have such an endpoint.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlanError(f"LFS: {redact(url)} is not an http(s) URL, so it has no LFS batch "
                        "endpoint (mirror it over https to fetch its LFS objects)")
    auth = None
    if parts.username is not None:
        auth = BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path.rstrip("/")
    base = urlunsplit((parts.scheme, netloc, path, "", ""))
    return (f"{base}/info/lfs" if path.endswith(".git") else f"{base}.git/info/lfs"), auth


# ------------------------------------------------------------------------ finding pointers
def _tips(git_dir: Path) -> list[str]:
    out = subprocess.run(["git", f"--git-dir={git_dir}", "for-each-ref", "--format=%(objectname)",
                          "refs/heads/", "refs/tags/"], capture_output=True, env=git_env(),
                         check=False)
    if out.returncode != 0:
        raise GitError(f"listing refs: {out.stderr.decode(errors='replace').strip()}")
    return sorted(set(out.stdout.decode().split()))


def _scan(git_dir: Path, tips: list[str], history: bool) -> dict[str, int]:
    """Every pointer in the trees of ``tips`` (``history``: in every commit they reach).

    Three git processes, no object read twice: ``rev-list --objects`` leaves out blobs of
    ``POINTER_MAX`` bytes or more, ``cat-file --batch-check`` keeps the small blobs, and
    ``cat-file --batch`` reads only those.
    """
    if not tips:
        return {}
    gd, env = f"--git-dir={git_dir}", git_env()
    walk = [] if history else ["--no-walk"]
    rev_list = subprocess.Popen(
        ["git", gd, "rev-list", "--objects", "--no-object-names",
         f"--filter=blob:limit={POINTER_MAX}", *walk, "--stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    check = subprocess.Popen(
        ["git", gd, "cat-file", "--batch-check=%(objecttype) %(objectsize) %(objectname)"],
        stdin=rev_list.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert rev_list.stdin is not None and rev_list.stdout is not None
    rev_list.stdout.close()  # cat-file owns it now
    rev_list.stdin.write("".join(f"{t}\n" for t in tips).encode())  # read whole before output
    rev_list.stdin.close()
    small, _err = check.communicate()
    rev_err = rev_list.stderr.read() if rev_list.stderr else b""
    if rev_list.wait() != 0 or check.returncode != 0:
        raise GitError(f"scanning for LFS pointers: {rev_err.decode(errors='replace').strip()}")
    candidates = []
    for line in small.splitlines():
        kind, size, sha = line.split(b" ")
        if kind == b"blob" and int(size) < POINTER_MAX:
            candidates.append(sha)
    if not candidates:
        return {}
    batch = subprocess.run(["git", gd, "cat-file", "--batch"], input=b"\n".join(candidates) + b"\n",
                           capture_output=True, env=env, check=False)
    if batch.returncode != 0:
        raise GitError(f"reading LFS pointers: {batch.stderr.decode(errors='replace').strip()}")
    found: dict[str, int] = {}
    out, pos = batch.stdout, 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        _sha, _kind, size = out[pos:end].split(b" ")
        body = out[end + 1:end + 1 + int(size)]
        pos = end + 1 + int(size) + 1
        pointer = parse_pointer(body)
        if pointer is not None:
            found[pointer.oid] = pointer.size
    return found


def scan_pointers(git_dir: Path, saved: Any, *, history: bool
                  ) -> tuple[dict[str, Any], dict[str, int]]:
    """LFS objects (oid -> size) the mirrored refs need, and the scan to remember.

    ``saved`` is what the last run remembered for this repository: its answer holds while
    the refs stay where they were, so an unchanged re-run does not walk the repository.
    """
    tips = _tips(git_dir)
    key = {"history": history, "tips": tips}
    if isinstance(saved, dict) and saved.get("key") == key:
        try:
            pointers = {str(k): int(v) for k, v in saved["pointers"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # written by something else than this module: walk again
        else:
            return saved, pointers
    pointers = _scan(git_dir, tips, history)
    return {"key": key, "pointers": pointers}, pointers


class PointerScans:
    """The pointer scans of every repository of the mirror, kept in the plugin state.

    One document for the mirror (repository path -> scan); a repository no longer
    mirrored, or no longer with LFS, drops out at the next run that saves it.
    """

    NAME = "git-lfs-pointers.json"
    VERSION = 1

    def __init__(self, saved: dict[str, Any]) -> None:
        self._saved = saved
        self._now: dict[str, Any] = {}

    @classmethod
    async def load(cls, ctx: PlanContext) -> PointerScans:
        saved = await ctx.state.read_json(cls.NAME, version=cls.VERSION)
        return cls(saved if isinstance(saved, dict) else {})

    async def scan(self, git_dir: Path, path: str, *, history: bool) -> dict[str, int]:
        saved = self._saved.get(path)
        scan, pointers = await anyio.to_thread.run_sync(
            lambda: scan_pointers(git_dir, saved, history=history))
        self._now[path] = scan
        return pointers

    def save(self, ctx: PlanContext) -> None:
        if self._now != self._saved:  # else the saved version goes on as it is
            ctx.state.write_json(self.NAME, self._now, version=self.VERSION)

    @classmethod
    def drop(cls, ctx: PlanContext) -> None:
        """No repository of the mirror uses LFS (any more): nothing to remember."""
        ctx.state.delete(cls.NAME)


# --------------------------------------------------------------------------- the batch API
def _have(ctx: PlanContext, path: str, oid: str, size: int) -> bool:
    """The previous snapshot holds this object already (as the manifest records it)."""
    prev = ctx.previous.files.get(path) if ctx.previous else None
    return prev is not None and prev.sha256 == oid and prev.size == size and (
        prev.stale_since is None)


def _str_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        return None
    return value


async def _batch(endpoint: str, auth: BasicAuth | None, wanted: dict[str, int],
                 ctx: PlanContext) -> list[dict[str, Any]]:
    body = json.dumps({"operation": "download", "transfers": ["basic"], "hash_algo": "sha256",
                       "objects": [{"oid": o, "size": s} for o, s in wanted.items()]}).encode()
    url = f"{endpoint}/objects/batch"
    try:
        resp = await ctx.get(url, method="POST", content=body, auth=auth,
                             headers={"Accept": _LFS_JSON, "Content-Type": _LFS_JSON})
    except FetchError as exc:
        raise PlanError(f"LFS batch API {redact(url)}: {exc.reason}") from None
    try:
        objects = resp.json()["objects"]
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise PlanError(f"LFS batch API {redact(url)}: the answer is not a batch response"
                        ) from None
    return objects


def _chunks(items: dict[str, int]) -> Iterable[dict[str, int]]:
    keys = sorted(items)
    for i in range(0, len(keys), BATCH_SIZE):
        yield {k: items[k] for k in keys[i:i + BATCH_SIZE]}


async def plan_lfs(url: str, git_dir: Path, scans: PointerScans, prefix: str,
                   ctx: PlanContext, *, history: bool) -> AsyncIterator[Artifact]:
    """Every LFS object the mirrored refs need, as a blob of the plan.

    Objects the mirror has are kept as they are (no request, ``ctx.keep_previous``); the
    others are asked of the batch API in chunks, and each is downloaded from the ``href``
    (with the ``header``) the answer gives. An object upstream cannot give fails the run
    (unless the mirror has it), so the refs that need it are not published and the
    previous ones stay served.
    """
    try:
        pointers = await scans.scan(git_dir, prefix, history=history)
    except (GitError, OSError) as exc:
        raise PlanError(f"LFS: {exc}") from None
    where = prefix or "<root>"

    def mirror_path(oid: str) -> str:
        return f"{prefix}/{object_path(oid)}" if prefix else object_path(oid)

    lacking, have = {}, {}
    for oid, size in pointers.items():
        path = mirror_path(oid)
        if _have(ctx, path, oid, size):
            have[oid] = size
        else:
            lacking[oid] = size
    # kept as they are (no request); when one cannot be (gone from a local tree), each is
    # kept on its own and only those that cannot be are asked for again
    if have and not ctx.keep_previous([mirror_path(oid) for oid in have]):
        lacking.update({oid: size for oid, size in have.items()
                        if not ctx.keep_previous([mirror_path(oid)])})
    ctx.log.info("git %s: %d LFS objects referenced, %d to fetch", where, len(pointers),
                 len(lacking))
    if not lacking:
        return
    endpoint, auth = lfs_endpoint(url)
    origin = urlsplit(endpoint)[:2]
    for chunk in _chunks(lacking):
        answered: set[str] = set()
        for obj in await _batch(endpoint, auth, chunk, ctx):
            named = obj.get("oid")
            if not isinstance(named, str) or named not in chunk or named in answered:
                raise PlanError(f"LFS batch API {redact(endpoint)}: answer names an object "
                                f"that was not asked for ({str(named)[:80]!r})")
            oid = named
            answered.add(oid)
            path = mirror_path(oid)
            error = obj.get("error")
            download = (obj.get("actions") or {}).get("download") if not error else None
            if error or not isinstance(download, dict):
                why = (error.get("message") if isinstance(error, dict) else None) or "no download"
                code = error.get("code") if isinstance(error, dict) else None
                ctx.fail(path, f"LFS object {oid} ({chunk[oid]} bytes): upstream cannot give "
                         f"it ({code or 'error'}: {str(why)[:200]})", url=endpoint)
                continue
            href, header = download.get("href"), _str_map(download.get("header"))
            if not isinstance(href, str) or not href.startswith(("http://", "https://")) \
                    or header is None:
                raise PlanError(f"LFS batch API {redact(endpoint)}: malformed download "
                                f"action for {oid}")
            same_host = urlsplit(href)[:2] == origin
            use_auth = auth if same_host and "authorization" not in map(str.lower, header) \
                else None
            yield Artifact(path, url=href, digest=Digest.sha256(oid), size=chunk[oid],
                           headers=header, auth=use_auth)
        for oid in sorted(set(chunk) - answered):
            ctx.fail(mirror_path(oid), f"LFS object {oid}: the batch API did not answer for "
                     "it", url=endpoint)
