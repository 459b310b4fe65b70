"""No credential of an upstream URL is printed, sent or stored, for each kind of credential.

Four upstreams that need a secret in their URL, as operators configure them:

- a private PyPI index behind ``http://user:PASSWORD@host/simple/`` whose pages link files
  relatively (devpi, Nexus), so every file URL carries the credentials too;
- a conda channel with anaconda.org's token in the path, ``http://host/t/TOKEN/channel``;
- an apt repository behind Ubuntu ESM's ``http://bearer:TOKEN@host/...``;
- a PyPI index with its token as a path segment (Gemfury's ``/TOKEN/simple/``) given as
  ``${VAR}`` in the config file.

Each is mirrored from a config file (a webhook on every run, a metrics file, a second mirror
straight into a bucket) while some files answer errors, so their URLs get printed, then
again with every file served. ``plan``, ``export`` and ``publish`` follow. No form of the
secret (as given, percent-encoded, inside a Basic header) may appear in stdout or stderr at
``-vv``, ``--json`` reports, ``plan --json``, the metrics file, webhook bodies, any file or
file name under the destination (``.mirrorkit/`` included), the bundle's parts and TOC, or
any key or object of the bucket, while the upstream proves each secret was used.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
import zstandard

from tests.plugins.apt.conftest import AptUpstream, World
from tests.plugins.conda.channel import Pkg, make_channel
from tests.plugins.pypi.fake_pypi import FakePyPI, build_wheel
from tests.support.cli import Result, run_cli
from tests.support.s3 import MotoServer
from tests.support.upstream import Handler, Upstream

PASSWORD = "pw-Jx4sQ8vN2c"
CONDA_TOKEN = "ct-2kRp9wLz7Y"
FURY_TOKEN = "fury-Hq3mV6tB1x"


@dataclass
class Case:
    """One upstream that needs a secret, and how to mirror it."""

    registry: str
    mirror: str  # the registry's keys of a [[mirrors]] entry, as TOML lines
    secrets: dict[str, str]  # what must appear nowhere (name -> value)
    fail: Callable[[bool], None]  # make some files answer errors (True) or not (False)
    used: Callable[[], None]  # asserts the upstream saw the secret
    env: dict[str, str] = field(default_factory=dict)


def secret_forms(name: str, value: str, user: str | None = None) -> dict[str, str]:
    """The secret as given, percent-encoded, and inside a Basic ``Authorization`` header."""
    out = {name: value}
    if quote(value, safe="") != value:
        out[f"{name} (encoded)"] = quote(value, safe="")
    if user is not None:
        out[f"{name} (basic)"] = base64.b64encode(f"{user}:{value}".encode()).decode()
    return out


def alias(up: Upstream, prefix: str) -> None:
    """Serve everything of ``up`` under ``prefix`` too (a token as a path segment)."""
    def strip(req: Handler) -> bool:
        req.path = req.path[len(prefix):]
        req._handle(head=req.command == "HEAD")
        return True

    up.routes.insert(0, (prefix + "/", strip))


def always_fails(up: Upstream, path: str) -> Callable[[bool], None]:
    def fail(on: bool) -> None:
        up.faults.pop(path, None)
        if on:
            up.fault(path, "status", times=50, code=503)
    return fail


def fake_pypi(stack: ExitStack) -> FakePyPI:
    pypi = FakePyPI(relative_links=True).start()
    stack.callback(pypi.up.stop)
    pypi.add("beta", build_wheel("beta", "1.0"), build_wheel("beta", "2.0"))
    return pypi


def pypi_userinfo(request: pytest.FixtureRequest, tmp: Path, stack: ExitStack) -> Case:
    pypi = fake_pypi(stack)
    host = pypi.up.url.removeprefix("http://")
    basic = "Basic " + base64.b64encode(f"mirror:{PASSWORD}".encode()).decode()

    def login(req: Handler) -> bool:  # a private index: pages and files need the password
        if req.headers.get("Authorization") == basic:
            return False
        req.send_body(401, b"unauthorized\n", {"WWW-Authenticate": 'Basic realm="index"'})
        return True

    pypi.up.routes.insert(0, ("/", login))

    def used() -> None:
        assert any(r.headers.get("Authorization") == basic for r in pypi.up.requests("/files/"))

    return Case("pypi",
                f'index_url = "http://mirror:{PASSWORD}@{host}/simple/"\npackages = ["beta"]',
                secret_forms("password", PASSWORD, "mirror"),
                always_fails(pypi.up, pypi.file_path("beta", "beta-2.0-py3-none-any.whl")), used)


def conda_token(request: pytest.FixtureRequest, tmp: Path, stack: ExitStack) -> Case:
    up = Upstream().start()
    stack.callback(up.stop)
    channel = make_channel(tmp, up)
    libfoo = Pkg("libfoo", "1.2", "linux-64")
    channel.add(Pkg("app", "1.0", "linux-64", ("libfoo >=1.1", "data")), libfoo,
                Pkg("data", "2.0", "noarch"))
    channel.publish()
    alias(up, f"/t/{CONDA_TOKEN}")

    def used() -> None:
        assert up.requests(f"/t/{CONDA_TOKEN}/chan/linux-64/")

    return Case("conda", f'channel_url = "{up.url}/t/{CONDA_TOKEN}/chan"\npackages = ["app"]\n'
                'with_deps = true\nsubdirs = ["linux-64", "noarch"]',
                secret_forms("conda token", CONDA_TOKEN),
                always_fails(up, f"/chan/{libfoo.path}"), used)


def apt_bearer(request: pytest.FixtureRequest, tmp: Path, stack: ExitStack) -> Case:
    from tests.plugins.apt.conftest import TOKEN

    world: World = request.getfixturevalue("world")
    apt = AptUpstream(world)
    stack.callback(apt.server.stop)
    listing = tmp / "mirror.list"
    listing.write_text(f"deb [signed-by={world.key.keyring}] {apt.esm_url} jammy main\n")
    pool = next(p for p in apt.server.files if p.startswith("/esm/pool/"))

    def used() -> None:
        assert all(r.headers.get("Authorization", "").startswith("Basic ")
                   for r in apt.server.requests("/esm/"))

    return Case("apt", f'mirror_list = "{listing}"', secret_forms("apt token", TOKEN, "bearer"),
                always_fails(apt.server, pool), used)


def config_variable(request: pytest.FixtureRequest, tmp: Path, stack: ExitStack) -> Case:
    pypi = fake_pypi(stack)
    alias(pypi.up, f"/{FURY_TOKEN}")

    def used() -> None:
        assert pypi.up.requests(f"/{FURY_TOKEN}/files/")

    return Case("pypi", f'index_url = "{pypi.up.url}/${{FURY_TOKEN}}/simple/"\npackages = ["beta"]',
                secret_forms("token from ${FURY_TOKEN}", FURY_TOKEN),
                always_fails(pypi.up, pypi.file_path("beta", "beta-2.0-py3-none-any.whl")),
                used, env={"FURY_TOKEN": FURY_TOKEN})


CASES = {"pypi-userinfo": pypi_userinfo, "conda-token": conda_token,
         "apt-bearer": apt_bearer, "config-variable": config_variable}


# ------------------------------------------------------------------------------ where to look
def readable(data: bytes) -> Iterator[bytes]:
    """The bytes, and what they decompress to when they are gzip, bzip2, xz or zstd."""
    yield data
    for magic, open_ in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
                         (b"\xfd7zXZ", lzma.decompress),
                         (b"\x28\xb5\x2f\xfd",
                          lambda d: zstandard.ZstdDecompressor().decompressobj().decompress(d))):
        if data.startswith(magic):
            yield open_(data)


def leaks(secrets: dict[str, str], where: str, data: bytes | str) -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    return [f"{name} in {where}" for name, value in secrets.items()
            if any(value.encode() in d for d in readable(raw))]


def tree_leaks(secrets: dict[str, str], root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found += leaks(secrets, f"the name {rel}", rel)
        if path.is_file():
            found += leaks(secrets, rel, path.read_bytes())
    return found


def bucket_leaks(secrets: dict[str, str], s3: MotoServer, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            found += leaks(secrets, f"the key s3://{bucket}/{obj['Key']}", obj["Key"])
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            found += leaks(secrets, f"s3://{bucket}/{obj['Key']}", body)
    return found


@pytest.mark.parametrize("kind", list(CASES))
def test_no_secret_is_printed_sent_or_stored(kind: str, request: pytest.FixtureRequest,
                                             tmp_path: Path, s3_server: MotoServer) -> None:
    with ExitStack() as stack:
        case = CASES[kind](request, tmp_path, stack)
        hooks: list[bytes] = []

        def hook(req: Handler) -> bool:
            hooks.append(req.request_body)
            req.send_body(200, b"ok")
            return True

        receiver = Upstream().start()
        stack.callback(receiver.stop)
        receiver.route("/hook", hook)
        bucket = f"secrets-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=s3_server.endpoint, aws_access_key_id="testing",
                     aws_secret_access_key="testing",
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        dest, metrics, bundles = tmp_path / "mirror", tmp_path / "m.prom", tmp_path / "bundles"
        settings = (f'settings = {{ retries = 1, backoff_initial = 0, backoff_max = 0, '
                    f'allow_partial = true, metrics_file = "{metrics}" }}')
        notify = f'[[mirrors.notify]]\ntype = "webhook"\non = "always"\nurl = "{receiver.url}/hook"'
        config = tmp_path / "mirrors.toml"
        config.write_text(
            f'[[mirrors]]\nname = "local"\nregistry = "{case.registry}"\n'
            f'dest = "{dest}"\n{case.mirror}\n{settings}\n{notify}\n\n'
            f'[[mirrors]]\nname = "bucket"\nregistry = "{case.registry}"\n'
            f'dest = "s3://{bucket}/direct"\n{case.mirror}\n{settings}\n{notify}\n')
        env = {**s3_server.env(), **case.env}
        results: list[tuple[str, Result]] = []

        def cli(*args: str | Path) -> Result:
            res = run_cli("-vv", *args, env=env)
            results.append((" ".join(map(str, args[:2])), res))
            assert res.code != 2, res.stderr  # usage and config are right
            return res

        case.fail(True)
        cli("plan", "--config", config, "--json")
        failed = cli("run", "--config", config, "--json")
        assert '"status": "partial"' in failed.stdout, failed.stdout  # URLs were reported
        case.fail(False)
        ok = cli("run", "--config", config, "--json")
        assert ok.code == 0, ok.stderr
        cli("plan", "--config", config, "--json")
        assert cli("export", dest, "--to", bundles, "--json").code == 0
        assert cli("publish", dest, f"s3://{bucket}/published", "--json").code == 0
        case.used()

        found: list[str] = []
        for what, res in results:
            found += leaks(case.secrets, f"stdout of {what}", res.stdout)
            found += leaks(case.secrets, f"stderr of {what}", res.stderr)
        assert len(hooks) == 4
        for i, body in enumerate(hooks):
            found += leaks(case.secrets, f"webhook body {i}", body)
        found += leaks(case.secrets, "the metrics file", metrics.read_bytes())
        found += tree_leaks(case.secrets, dest)
        found += tree_leaks(case.secrets, bundles)
        found += bucket_leaks(case.secrets, s3_server, bucket)
        assert not found, "\n".join(found)


@pytest.mark.parametrize("kind", ["pypi-userinfo", "conda-token"])
def test_credentials_given_as_flags_stay_out_of_output_and_mirror(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The command lines of the report: ``--index-url http://user:PASSWORD@host/simple/``
    and ``--channel-url http://host/t/TOKEN/channel``, with a file that fails."""
    with ExitStack() as stack:
        case = CASES[kind](request, tmp_path, stack)
        case.fail(True)
        key, _, value = case.mirror.splitlines()[0].partition(" = ")
        flag = "--" + key.replace("_", "-")
        dest = tmp_path / "flags"
        extra = (["--package", "beta"] if case.registry == "pypi" else
                 ["--package", "app", "--with-deps", "--subdir", "linux-64", "--subdir",
                  "noarch"])
        res = run_cli("-vv", "run", case.registry, flag, value.strip('"'), *extra,
                      "--dest", dest, "--json", "--retries", "0", "--allow-partial")
        assert res.json["status"] == "partial", res.stderr
        assert f"({res.json['errors'][0]['url']})" in res.stderr  # the failure, redacted
        case.used()
        found = (leaks(case.secrets, "stdout", res.stdout)
                 + leaks(case.secrets, "stderr", res.stderr) + tree_leaks(case.secrets, dest))
        assert not found, "\n".join(found)
