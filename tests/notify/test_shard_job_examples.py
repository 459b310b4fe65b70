"""The sharded-run examples run as written: the Kubernetes Indexed Job and the AWS Batch array.

Each test reads an example and runs its container command locally, once per index, every
worker at once as the job engine starts them, with the variable the engine sets
(``JOB_COMPLETION_INDEX``, ``AWS_BATCH_JOB_ARRAY_INDEX``), against moto and a loopback conda
channel. Only what belongs to a site is replaced: the channel's URL, the bucket's URL and the
credentials; the rest (flags, worker count, the lease) is the example's, so an example cannot
drift from the command line. The bucket must end as one unsharded run leaves it.

The retry settings are checked against the lease they must outlast: a killed worker leaves its
index's lock object leased for ``--lock-lease`` seconds, and the index's next tries exit 3
until then, so the engine must still have retries left when the lease has run out.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.plugins.conda.channel import Channel, Pkg, make_channel
from tests.support.cli import cli_env
from tests.support.s3 import MotoServer
from tests.support.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: the upstream every example mirrors, replaced by the loopback channel
CHANNEL = "https://conda.anaconda.org/conda-forge"
#: the lock's lease is judged on the store's clock with this slack (core/store/s3/lease.py)
CLOCK_SLACK_S = 1.0

#: runs a command without its shard flags, once, and gives what it left in its prefix
Unsharded = Callable[[list[str], dict[str, str]], dict[str, bytes]]

PKGS = [Pkg(f"lib{i}", f"1.{i % 3}", "noarch" if i % 3 == 0 else "linux-64",
            fmt=".tar.bz2" if i % 4 == 0 else ".conda") for i in range(30)]


@dataclass
class Worker:
    index: int
    code: int
    report: dict[str, Any]
    stderr: str


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Channel]:
    upstream = Upstream().start()
    try:
        chan = make_channel(tmp_path_factory.mktemp("conda"), upstream)
        chan.add(*PKGS)
        chan.publish()
        yield chan
    finally:
        upstream.stop()


@pytest.fixture(scope="module")
def unsharded(s3_server: MotoServer) -> Unsharded:
    """What one unsharded run of a command leaves in a bucket (each command run once)."""
    name = f"mirror-{uuid.uuid4().hex[:12]}"
    s3(s3_server).create_bucket(Bucket=name)
    done: dict[tuple[str, ...], dict[str, bytes]] = {}

    def run(argv: list[str], env: dict[str, str]) -> dict[str, bytes]:
        argv = without_shard_flags(argv)
        key = tuple(with_dest(argv, "DEST"))
        if key not in done:
            prefix = f"run{len(done)}"
            res = subprocess.run(mirrorkit_argv(with_dest(argv, f"s3://{name}/{prefix}")),
                                 env=env, capture_output=True, text=True, timeout=120,
                                 check=False)
            assert res.returncode == 0, res.stderr[-2000:]
            done[key] = objects(s3(s3_server), name, prefix)
        return done[key]
    return run


@pytest.fixture
def bucket(s3_server: MotoServer) -> str:
    name = f"mirror-{uuid.uuid4().hex[:12]}"
    s3(s3_server).create_bucket(Bucket=name)
    return name


def s3(server: MotoServer) -> Any:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name="us-east-1").client("s3",
                                                                 endpoint_url=server.endpoint)


def site_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The machine's environment without AWS settings: the example must bring its own."""
    env = {k: v for k, v in cli_env().items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


def run_all(commands: list[tuple[list[str], dict[str, str]]]) -> list[Worker]:
    """Start every worker at once (the engine's parallelism), wait for all of them."""
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for argv, env in commands]
    workers = []
    for index, proc in enumerate(procs):
        out, err = proc.communicate(timeout=240)
        report = json.loads(out) if out.strip() else {}
        workers.append(Worker(index, proc.returncode, report, err))
    return workers


def mirrorkit_argv(argv: list[str]) -> list[str]:
    """The image's ``mirrorkit`` is this checkout's."""
    assert argv[0] == "mirrorkit", argv
    return [sys.executable, "-m", "mirrorkit", *argv[1:]]


def objects(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                  Prefix=prefix + "/"):
        for obj in page.get("Contents", ()):
            out[obj["Key"][len(prefix) + 1:]] = client.get_object(
                Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def assert_one_run_in_bucket(workers: list[Worker], count: int, channel: Channel,
                             sharded: dict[str, bytes], single: dict[str, bytes]) -> None:
    """Every worker succeeded, one committed, each package was downloaded once, and the
    prefix holds what one unsharded run of the same command leaves."""
    for w in workers:
        assert w.code == 0, (w.index, w.stderr[-2000:])
    shards = [w.report["notes"]["shard"] for w in workers]
    assert sorted(s["index"] for s in shards) == list(range(count))
    assert [s.get("commit") for s in shards].count("this worker") == 1, shards

    packages = {f"/chan/{p.path}" for p in channel.packages}
    fetched = [r.path for r in channel.upstream.requests("/chan/") if r.path in packages]
    assert sorted(fetched) == sorted(packages)  # each once, across the workers

    assert not [k for k in sharded if k.startswith(".mirrorkit/shards/")
                or k == ".mirrorkit/lock"], "records or locks left behind"
    for pkg in channel.packages:
        assert sharded[pkg.path] == channel.upstream.files[f"/chan/{pkg.path}"].body
    for subdir in ("linux-64", "noarch"):
        key = f"{subdir}/repodata.json"
        assert sharded[key] == channel.upstream.files[f"/chan/{key}"].body

    def mirror(objs: dict[str, bytes]) -> dict[str, bytes]:
        return {k: v for k, v in objs.items() if not k.startswith(".mirrorkit/")}

    def published(objs: dict[str, bytes]) -> Any:
        return json.loads(objs[".mirrorkit/published.json"])["files"]

    assert mirror(sharded) == mirror(single)
    assert published(sharded) == published(single)


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def without_shard_flags(argv: list[str]) -> list[str]:
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--shard", "--shards"):
            skip = True
        else:
            out.append(word)
    return out


def with_dest(argv: list[str], dest: str) -> list[str]:
    out = list(argv)
    out[out.index("--dest") + 1] = dest
    return out


# ------------------------------------------------------------------------ Kubernetes
def k8s_job() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((EXAMPLES / "k8s-indexed-job.yaml").read_text()))
    [job] = [d for d in docs if d["kind"] == "Job"]
    return job  # type: ignore[no-any-return]


def k8s_expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` references in command, args and env values (``$$`` escapes);
    an undefined variable stays as written."""
    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        return env.get(m[1], m[0])
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)


def k8s_secret_keys() -> set[str]:
    """The keys the example's ``kubectl create secret`` comment gives."""
    return set(re.findall(r"--from-literal=([A-Z0-9_]+)=",
                          (EXAMPLES / "k8s-indexed-job.yaml").read_text()))


def k8s_pod_env(container: dict[str, Any], secret: Mapping[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = k8s_expand(var["value"], env)
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        if ref["key"] in secret:
            env[var["name"]] = secret[ref["key"]]
        else:
            assert ref.get("optional"), f"the Secret has no {ref['key']}"
    return env


def k8s_retry_delays(count: int) -> list[float]:
    """The Job controller's waits before an index's 1st, 2nd, ... new pod (10 s, doubling,
    at most 6 minutes)."""
    return [min(10.0 * 2 ** k, 360.0) for k in range(count)]


def test_indexed_job_retries_outlast_a_killed_workers_lease() -> None:
    spec = k8s_job()["spec"]
    [container] = spec["template"]["spec"]["containers"]
    lease = float(flag(container["args"], "--lock-lease"))
    retries = int(spec["backoffLimitPerIndex"])
    # the pod killed at 0 counts once; each pod after it is refused (exit 3) until the lease
    # taken at its last renewal (at most 0 s before the kill) has run out
    waited, needed = 0.0, None
    for n, delay in enumerate(k8s_retry_delays(retries), start=1):
        waited += delay
        if waited > lease + CLOCK_SLACK_S:
            needed = n
            break
    assert needed is not None and needed < retries, (
        f"--lock-lease {lease:g} outlasts backoffLimitPerIndex {retries}")

    rules = spec["podFailurePolicy"]["rules"]
    def action(code: int) -> str:
        for rule in rules:
            codes = rule.get("onExitCodes")
            if codes and (code in codes["values"]) == (codes["operator"] == "In"):
                return str(rule["action"])
        return "Count"
    assert action(2) == "FailJob"  # a usage error fails in every pod alike
    assert action(3) == "Count" and action(1) == "Count"  # retried, with the backoff
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_indexed_job_workers_fill_the_bucket_as_one_run(
        channel: Channel, s3_server: MotoServer, bucket: str,
        unsharded: Unsharded) -> None:
    job = k8s_job()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    [container] = spec["template"]["spec"]["containers"]
    count = int(spec["completions"])
    assert int(spec["parallelism"]) == count
    assert flag(container["args"], "--shards") == str(count)

    dest = f"s3://{bucket}/conda-forge"
    moto = s3_server.env()
    secret = {"MIRROR_DEST": dest, "AWS_ACCESS_KEY_ID": moto["AWS_ACCESS_KEY_ID"],
              "AWS_SECRET_ACCESS_KEY": moto["AWS_SECRET_ACCESS_KEY"],
              "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto["AWS_ENDPOINT_URL_S3"]}
    required = {v["valueFrom"]["secretKeyRef"]["key"] for v in container["env"]
                if "valueFrom" in v and not v["valueFrom"]["secretKeyRef"].get("optional")}
    assert required <= k8s_secret_keys()  # the comment's `kubectl create secret` gives them
    env = k8s_pod_env(container, secret)
    argv = [k8s_expand(w, env) for w in [*container["command"], *container["args"]]]
    assert flag(argv, "--dest") == dest
    argv = [channel.url if w == CHANNEL else w for w in argv]
    assert channel.url in argv

    single = unsharded(argv, site_env(env))
    channel.upstream.clear_log()
    workers = run_all([(mirrorkit_argv(argv),
                        site_env({**env, "JOB_COMPLETION_INDEX": str(i)}))
                       for i in range(count)])
    assert_one_run_in_bucket(workers, count, channel,
                             objects(s3(s3_server), bucket, "conda-forge"), single)


# ------------------------------------------------------------------------ AWS Batch
def batch_files() -> tuple[dict[str, Any], dict[str, Any]]:
    definition = json.loads((EXAMPLES / "aws-batch-job-definition.json").read_text())
    submit = json.loads((EXAMPLES / "aws-batch-submit-job.json").read_text())
    return definition, submit


def batch_env(definition: dict[str, Any], submit: dict[str, Any]) -> dict[str, str]:
    """The container's variables: the definition's, overridden by the submission's."""
    env = {v["name"]: v["value"] for v in definition["containerProperties"]["environment"]}
    env.update({v["name"]: v["value"]
                for v in submit.get("containerOverrides", {}).get("environment", [])})
    return env


def batch_action(retry: dict[str, Any], exit_code: int) -> str:
    """What Batch does after an attempt exits with ``exit_code``: the first matching
    ``evaluateOnExit`` entry (a glob on the code), else RETRY."""
    for entry in retry.get("evaluateOnExit", []):
        pattern = entry.get("onExitCode")
        if pattern is not None and fnmatch.fnmatchcase(str(exit_code), pattern):
            return str(entry["action"]).upper()
    return "RETRY"


def batch_script(definition: dict[str, Any]) -> str:
    command = definition["containerProperties"]["command"]
    assert command[:2] == ["sh", "-c"] and len(command) == 3, command
    return str(command[2])


def test_batch_array_retries_outlast_a_killed_workers_lease() -> None:
    definition, submit = batch_files()
    script = batch_script(definition)
    retry = definition["retryStrategy"]
    assert batch_action(retry, 2) == "EXIT"
    assert batch_action(retry, 3) == "RETRY" and batch_action(retry, 1) == "RETRY"
    # Batch starts the next attempt at once: the command waits before every retry
    wait = re.search(r'AWS_BATCH_JOB_ATTEMPT:-1}" -gt 1 \]; then sleep (\d+);', script)
    assert wait is not None, script
    mirrorkit = shlex.split(script[script.index("exec mirrorkit"):])[1:]
    lease = float(flag(mirrorkit, "--lock-lease"))
    attempts = int(retry["attempts"])
    # attempt n starts at least (n - 1) waits after the killed first one
    needed = next((n for n in range(2, attempts + 1)
                   if (n - 1) * float(wait[1]) > lease + CLOCK_SLACK_S), None)
    assert needed is not None and needed < attempts, (
        f"--lock-lease {lease:g} outlasts {attempts} attempts")
    assert int(batch_env(definition, submit)["MIRROR_SHARDS"]) == \
        int(submit["arrayProperties"]["size"])


def test_batch_array_passes_a_usage_error_on_as_exit_2(tmp_path: Path) -> None:
    """The wrapper execs mirrorkit, so Batch sees its exit code (2: do not retry)."""
    definition, submit = batch_files()
    env = site_env({**batch_env(definition, submit), "AWS_BATCH_JOB_ATTEMPT": "1",
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    res = subprocess.run(["sh", "-c", batch_script(definition)], env=env, capture_output=True,
                         text=True, timeout=60, check=False)  # no AWS_BATCH_JOB_ARRAY_INDEX
    assert res.returncode == 2 and "AWS_BATCH_JOB_ARRAY_INDEX" in res.stderr


def test_batch_array_children_fill_the_bucket_as_one_run(
        channel: Channel, s3_server: MotoServer, bucket: str,
        unsharded: Unsharded) -> None:
    definition, submit = batch_files()
    count = int(submit["arrayProperties"]["size"])
    dest = f"s3://{bucket}/conda-forge"
    env = {**batch_env(definition, submit), "MIRROR_DEST": dest,
           **s3_server.env(),  # the job role's credentials
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "AWS_BATCH_JOB_ATTEMPT": "1"}
    script = batch_script(definition)
    assert CHANNEL in script
    script = script.replace(CHANNEL, channel.url)
    found = shutil.which("mirrorkit", path=env["PATH"])  # the image's command: this venv's
    assert found is not None and Path(found).parent == Path(sys.executable).parent

    argv = shlex.split(script[script.index("exec mirrorkit"):].replace(
        '"$MIRROR_DEST"', dest).replace('"$MIRROR_SHARDS"', str(count)))[1:]
    single = unsharded(argv, site_env(env))
    channel.upstream.clear_log()
    workers = run_all([(["sh", "-c", script],
                        site_env({**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}))
                       for i in range(count)])
    assert_one_run_in_bucket(workers, count, channel,
                             objects(s3(s3_server), bucket, "conda-forge"), single)

