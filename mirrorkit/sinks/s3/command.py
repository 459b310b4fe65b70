"""``mirrorkit publish MIRROR s3://bucket/prefix``: the s3 sink, run by hand or from cron.

The flags are generated from the sink's options model, so ``--concurrency`` here is the
``concurrency`` key of a ``[[mirrors.sinks]]`` entry. Exit codes follow the rest of the
command line: 0 published, 1 publishing failed, 2 bad arguments.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from mirrorkit.api import S3PublishOptions, collect_values, options_for_model

__all__ = ["publish_command"]


def _callback(**params: Any) -> None:
    dest: Path = params["dest"]
    raw = {"target": params["target"],
           **collect_values(S3PublishOptions, params, prefix="opt_")}
    try:
        options = S3PublishOptions.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "TARGET" if err["loc"] and err["loc"][0] == "target" else (
            "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "options")
        click.echo(f"mirrorkit: error: {where}: {err['msg']}", err=True)
        sys.exit(2)
    if not dest.is_dir():
        what = "not a directory" if dest.exists() else "no such directory"
        click.echo(f"mirrorkit: error: {dest}: {what}", err=True)
        sys.exit(2)
    from mirrorkit.api import PublishError, publish_mirror  # boto3: only when publishing

    try:
        result = publish_mirror(dest, options, logging.getLogger("mirrorkit.sink.s3"))
    except PublishError as exc:
        if params["as_json"]:
            click.echo(json.dumps({"status": "failed", "target": options.target,
                                   "error": str(exc)}))
        click.echo(f"mirrorkit: error: {exc}", err=True)
        sys.exit(3 if exc.in_use else 1)
    if params["as_json"]:
        click.echo(json.dumps(result.to_json()))
    click.echo(result.summary(), err=True)


def publish_command() -> click.Command:
    params: list[click.Parameter] = [
        click.Argument(["dest"], type=click.Path(path_type=Path), metavar="MIRROR"),
        click.Argument(["target"]),
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print the result as one JSON object on stdout."),
        *options_for_model(S3PublishOptions, prefix="opt_"),
    ]
    return click.Command(
        "publish", callback=_callback, params=params,
        short_help="Publish a mirror to s3://bucket/prefix (changed files only).",
        help="Publish the mirror in MIRROR to TARGET (s3://bucket/prefix): upload new and "
             "changed files (blobs first, index files last), then delete stale keys. What "
             "changed is decided from the mirror's manifest and the state published last "
             "time, without listing the bucket. Endpoint, region and credentials come from "
             "the standard AWS configuration (AWS_ENDPOINT_URL_S3, AWS_PROFILE, ...).",
    )
