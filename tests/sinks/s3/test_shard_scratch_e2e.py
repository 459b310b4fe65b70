"""A worker of a sharded run needs local disk for the files in flight, not for its share.

Each file a worker stores goes to the bucket as soon as it is verified; the worker's scratch
directory (under the system's temp directory) must then let go of it, or a worker whose share
is terabytes needs terabytes of local disk, which is what sharding into a bucket avoids.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from s3log import LoggedS3
from test_shards_e2e import bucket_args

from mirrorkit.testing import Handler
from tests.support.cli import cli_env
from tests.support.static_list import publish
from tests.support.upstream import Upstream

FILES = 120
IN_FLIGHT = 2


def scratch_files(tmp: Path) -> int:
    return sum(1 for p in tmp.glob("mirrorkit-s3-*/tree/**/*") if p.is_file())


def test_a_worker_keeps_only_the_files_in_flight_on_local_disk(
        upstream: Upstream, s3_logged: LoggedS3, bucket: str, tmp_path: Path) -> None:
    files = {f"pool/{i:03d}.bin": os.urandom(20_000) for i in range(FILES)}
    publish(upstream, files)

    def slow(req: Handler) -> bool:
        time.sleep(0.02)
        return False

    upstream.route("/repo/files/", slow)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = bucket_args(upstream, f"s3://{bucket}/m", "--shard", "0/1",
                       "--concurrency", str(IN_FLIGHT))
    proc = subprocess.Popen([sys.executable, "-m", "mirrorkit", *args],
                            env=cli_env({**s3_logged.env(), "TMPDIR": str(scratch)}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, scratch_files(scratch))
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    stored = s3_logged.client().list_objects_v2(Bucket=bucket, Prefix="m/pool/")["KeyCount"]
    assert stored == FILES
    # in flight, being written, being uploaded: a few per request, never the share
    assert peak <= 4 * IN_FLIGHT, f"{peak} of {FILES} stored files were still on local disk"
