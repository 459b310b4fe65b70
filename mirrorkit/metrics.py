"""Prometheus text-file export of run metrics, for node_exporter's textfile collector.

A weekly job has no process for Prometheus to scrape, so each run updates a ``.prom`` file
that node_exporter serves (``--collector.textfile.directory``). Several mirrors may share
one file: a run rewrites only its own mirror's series and keeps the others, under an
advisory lock on the file's directory, and the file is replaced atomically (written to a
temporary name, then renamed) so the collector never reads half a file.

``mirrorkit_last_success_timestamp_seconds`` survives failed runs (it is read back from the
file), which is what a staleness alert needs: "no successful run of mirror X for 8 days".
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import write_to_textfile
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from .core.run.report import RunReport

__all__ = ["METRICS", "MetricsError", "write_run_metrics"]

PREFIX = "mirrorkit_"

# sample name -> (help text, type); every series has the label ``mirror``
METRICS: dict[str, tuple[str, str]] = {
    "mirrorkit_last_run_timestamp_seconds": ("When the last run ended (Unix time).", "gauge"),
    "mirrorkit_last_success_timestamp_seconds": (
        "When the last fully successful run ended (Unix time).", "gauge"),
    "mirrorkit_last_run_success": ("1 if the last run succeeded, else 0.", "gauge"),
    "mirrorkit_last_run_duration_seconds": ("Duration of the last run.", "gauge"),
    "mirrorkit_last_run_files": ("Files in the mirror after the last run.", "gauge"),
    "mirrorkit_last_run_downloaded_files": ("Files downloaded by the last run.", "gauge"),
    "mirrorkit_last_run_downloaded_bytes": ("Bytes downloaded by the last run.", "gauge"),
    "mirrorkit_last_run_failed_files": ("Files that failed in the last run.", "gauge"),
    "mirrorkit_last_run_removed_files": ("Stale files removed by the last run.", "gauge"),
    "mirrorkit_last_run_sink_failures": ("Sinks that failed in the last run.", "gauge"),
    "mirrorkit_runs_total": ("Runs ended, by status.", "counter"),
    # per host of the last run (label ``host``): what the transport's adaptive limit found
    "mirrorkit_last_run_host_limit": (
        "In-flight limit a host settled on in the last run (or was pinned to).", "gauge"),
    "mirrorkit_last_run_host_requests": ("Requests made to a host in the last run.", "gauge"),
    "mirrorkit_last_run_host_refusals": (
        "Requests a host refused (429, 503), reset or let time out in the last run.", "gauge"),
}
_HOST_METRICS = ("mirrorkit_last_run_host_limit", "mirrorkit_last_run_host_requests",
                 "mirrorkit_last_run_host_refusals")

Series = dict[tuple[tuple[str, str], ...], float]


class MetricsError(Exception):
    """The metrics file could not be written; one line for the operator."""


def write_run_metrics(path: Path, report: RunReport, *, now: float | None = None) -> None:
    """Record ``report`` for its mirror in ``path``, keeping every other mirror's series."""
    now = time.time() if now is None else now
    directory = path.parent if str(path.parent) else Path(".")
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise MetricsError(f"metrics file {path}: cannot open its directory "
                           f"({exc.strerror or exc})") from None
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        series = _read(path)
        _update(series, report, now)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_FileCollector(series))
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise MetricsError(f"metrics file {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        os.close(dir_fd)


def _read(path: Path) -> dict[str, Series]:
    """Our series from the current file; a missing or garbled file starts afresh."""
    out: dict[str, Series] = {name: {} for name in METRICS}
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return out
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in out:
                    out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    except ValueError:
        return {name: {} for name in METRICS}
    return out


def _update(series: dict[str, Series], report: RunReport, now: float) -> None:
    mirror = (("mirror", report.mirror),)
    ok = report.status == "ok"
    values = {
        "mirrorkit_last_run_timestamp_seconds": now,
        "mirrorkit_last_run_success": 1.0 if ok else 0.0,
        "mirrorkit_last_run_duration_seconds": report.duration_s,
        "mirrorkit_last_run_files": report.files,
        "mirrorkit_last_run_downloaded_files": report.downloaded,
        "mirrorkit_last_run_downloaded_bytes": report.bytes_downloaded,
        "mirrorkit_last_run_failed_files": report.failed,
        "mirrorkit_last_run_removed_files": report.removed,
        "mirrorkit_last_run_sink_failures": sum(
            1 for v in report.sinks.values() if v.startswith("failed")),
    }
    if ok:
        values["mirrorkit_last_success_timestamp_seconds"] = now
    for name, value in values.items():
        series[name][mirror] = float(value)
    for name in _HOST_METRICS:  # the last run's hosts replace the previous run's
        series[name] = {k: v for k, v in series[name].items()
                        if dict(k).get("mirror") != report.mirror}
    for host in report.hosts:
        key = (("host", host.host), ("mirror", report.mirror))
        series["mirrorkit_last_run_host_limit"][key] = float(host.limit)
        series["mirrorkit_last_run_host_requests"][key] = float(host.requests)
        series["mirrorkit_last_run_host_refusals"][key] = float(host.refusals)
    runs = series["mirrorkit_runs_total"]
    for status in ("ok", "partial", "failed"):  # all three, so rate() sees a zero, not absence
        key = (("mirror", report.mirror), ("status", status))
        runs[key] = runs.get(key, 0.0) + (1.0 if report.status == status else 0.0)


class _FileCollector(Collector):
    def __init__(self, series: dict[str, Series]) -> None:
        self.series = series

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        for name, (help_text, kind) in METRICS.items():
            samples = self.series.get(name) or {}
            if not samples:
                continue
            label_names = [k for k, _ in next(iter(samples))]
            family: GaugeMetricFamily | CounterMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name.removesuffix("_total"), help_text,
                                             labels=label_names)
            else:
                family = GaugeMetricFamily(name, help_text, labels=label_names)
            for labels, value in sorted(samples.items()):
                family.add_metric([v for _, v in labels], value)
            yield family
