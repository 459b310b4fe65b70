"""A GitHub-style hosting API on loopback (on top of tests.support.upstream.Upstream).

It serves ``/api/repos/{owner}/{repo}``, ``.../commits/{ref}``, ``.../git/trees/{sha}`` and raw
files under ``/raw/{owner}/{repo}/{commit}/{path}``, from a dict of files that a test edits.
"""

from __future__ import annotations

import hashlib
import json
import time

from tests.support.upstream import Handler, Upstream


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _tree_sha(directory: str) -> str:
    return hashlib.sha1(directory.encode()).hexdigest()


class FakeGitHub:
    def __init__(self, up: Upstream, owner: str = "acme", repo: str = "tools") -> None:
        self.up = up
        self.owner, self.repo = owner, repo
        self.files: dict[str, bytes] = {}
        self.symlinks: dict[str, str] = {}
        self.rate_limited = 0  # answer this many API calls with a 403 rate-limit response
        self.reset_in = 1  # seconds until that rate limit resets
        self.errors: list[int] = []  # statuses to answer the next API calls with
        self.trees_status: int | None = None  # answer every trees call with this status
        self.truncate = False
        up.route(f"/api/repos/{owner}/{repo}", self._api)

    @property
    def api_url(self) -> str:
        return f"{self.up.url}/api"

    @property
    def raw_url(self) -> str:
        return self.up.url + "/raw/{owner}/{repo}/{commit}/{path}"

    @property
    def commit(self) -> str:
        state = json.dumps([sorted(self.files.items(), key=str), self.symlinks], default=repr)
        return hashlib.sha1(state.encode()).hexdigest()

    def publish(self) -> None:
        """Serve the raw files of the current commit (the API answers from ``files`` live)."""
        for path, content in self.files.items():
            self.up.add(f"/raw/{self.owner}/{self.repo}/{self.commit}/{path}", content)

    def raw_requests(self) -> list[str]:
        return [r.path.split("/", 5)[-1] for r in self.up.requests("/raw/")]

    def _entries(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        dirs = set()
        for path, content in sorted(self.files.items()):
            parts = path.split("/")
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            out.append({"path": path, "mode": "100644", "type": "blob",
                        "sha": blob_sha(content), "size": len(content)})
        for path, target in self.symlinks.items():
            out.append({"path": path, "mode": "120000", "type": "blob",
                        "sha": blob_sha(target.encode()), "size": len(target)})
        out += [{"path": d, "mode": "040000", "type": "tree", "sha": _tree_sha(d)} for d in dirs]
        return out

    def _children(self, tree_sha: str) -> list[dict[str, object]]:
        """A non-recursive listing: the direct children of one directory, relative names."""
        entries = self._entries()
        base = next((str(e["path"]) + "/" for e in entries
                     if e["type"] == "tree" and e["sha"] == tree_sha), "")
        out = []
        for e in entries:
            rel = str(e["path"])[len(base):]
            if str(e["path"]).startswith(base) and rel and "/" not in rel:
                out.append({**e, "path": rel})
        return out

    def _api(self, req: Handler) -> bool:
        prefix = f"/api/repos/{self.owner}/{self.repo}"
        path = req.path.split("?", 1)[0][len(prefix):]
        if self.rate_limited:
            self.rate_limited -= 1
            reset = int(time.time()) + self.reset_in
            req.send_body(403, b'{"message": "API rate limit exceeded"}',
                          {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
            return True
        if self.errors:
            req.send_body(self.errors.pop(0), b'{"message": "injected"}')
            return True
        if self.trees_status is not None and path.startswith("/git/trees/"):
            req.send_body(self.trees_status, b'{"message": "Not Found"}')
            return True
        if path == "":
            body: object = {"default_branch": "main"}
        elif path.startswith("/commits/"):
            body = {"sha": self.commit, "commit": {"tree": {"sha": "t" * 40}}}
        elif path.startswith("/git/trees/"):
            sha = path.rsplit("/", 1)[-1]
            entries = self._entries()
            if "recursive=1" not in req.path:
                body = {"sha": sha, "tree": self._children(sha), "truncated": False}
            elif self.truncate:
                body = {"sha": sha, "tree": entries[:1], "truncated": True}
            else:
                body = {"sha": sha, "tree": entries, "truncated": False}
        else:
            return False
        req.send_body(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return True
