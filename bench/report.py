"""What a run produced, as a terminal table, bench/results/<date>.json, a PNG plot and the page."""

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "docs" / "performance.md"
PACKAGES = ["Django", "channels", "daphne", "channels-redis", "redis", "websockets", "uvicorn"]


def machine():
    """The machine and the versions the numbers were measured with."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory = psutil.virtual_memory().total
    except ImportError:
        memory = None
    versions = {"Python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["redis-server"] = redis_server_version()
    return {
        "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


def redis_server_version():
    import shutil
    import subprocess

    path = shutil.which("redis-server")
    if path is None:
        return "not installed"
    output = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    for word in output.split():
        if word.startswith("v="):
            return word[2:]
    return output.strip()


# Reading the results


def workload(entry, key):
    return entry["workloads"].get(key) or {}


def number(value, digits=0, scale=1.0):
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def saturation_rows(results):
    rows = []
    clients = results["settings"]["saturation_clients"]
    for entry in results["servers"]:
        for count in clients:
            data = workload(entry, f"saturation_{count}")
            rows.append(
                [
                    entry["name"],
                    str(count),
                    number(data.get("deliveries_per_second")),
                    number(data.get("p50_ms"), 1),
                    number(data.get("p99_ms"), 1),
                    number(data.get("server_cpu_us_per_delivery"), 1),
                    number(data.get("client_cpu_us_per_delivery"), 1),
                    number(data.get("server_cpu_share"), 0, 100),
                    number(data.get("client_cpu_share"), 0, 100),
                    lost(data),
                ]
            )
    return rows


def lost(data):
    if not data:
        return "-"
    return f"{data['expected_deliveries'] - data['deliveries']:,}"


def steady_rows(results):
    rows = []
    for entry in results["servers"]:
        data = workload(entry, "steady")
        rows.append(
            [
                entry["name"],
                number(data.get("p50_ms"), 1),
                number(data.get("p99_ms"), 1),
                number(data.get("max_ms"), 1),
                number(data.get("server_cpu_us_per_delivery"), 1),
                lost(data),
            ]
        )
    return rows


def burst_rows(results):
    rows = []
    for entry in results["servers"]:
        data = workload(entry, "burst")
        fraction = data.get("delivered_fraction")
        rows.append(
            [
                entry["name"],
                number(data.get("sent")),
                number(fraction, 1, 100) + ("%" if fraction is not None else ""),
                number(data.get("complete_clients")),
                number(data.get("drain_seconds"), 2),
                number(data.get("p99_ms"), 0),
            ]
        )
    return rows


def idle_rows(results):
    rows = []
    for entry in results["servers"]:
        data = workload(entry, "idle")
        rows.append(
            [
                entry["name"],
                number(data.get("sockets")),
                number(data.get("rss_before_bytes"), 1, 1 / 2**20),
                number(data.get("rss_after_bytes"), 1, 1 / 2**20),
                number(data.get("bytes_per_socket"), 1, 1 / 1024),
                number(data.get("connects_per_second")),
            ]
        )
    return rows


SATURATION_HEADER = [
    "server",
    "C",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "server CPU µs/delivery",
    "load-gen CPU µs/delivery",
    "server CPU %",
    "load-gen CPU %",
    "lost",
]
STEADY_HEADER = ["server", "p50 ms", "p99 ms", "max ms", "server CPU µs/delivery", "lost"]
BURST_HEADER = ["server", "saved", "delivered", "members with all", "drain s", "p99 ms"]
IDLE_HEADER = ["server", "sockets", "RSS before MiB", "RSS after MiB", "KiB/socket", "connects/s"]


def text_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    return "\n".join(lines)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table(results):
    """The whole run as plain text tables, for the terminal."""
    settings = results["settings"]
    parts = [
        f"Saturation: one sender, at most {settings['saturation_window']} messages in flight",
        text_table(SATURATION_HEADER, saturation_rows(results)),
        "",
        f"Steady: {settings['steady_rate']:g} messages/s into C = {settings['steady_clients']}",
        text_table(STEADY_HEADER, steady_rows(results)),
        "",
        f"Burst: {settings['burst_senders']} senders x {settings['burst_messages']} messages, "
        f"C = {settings['burst_clients']}",
        text_table(BURST_HEADER, burst_rows(results)),
        "",
        f"Idle memory: {settings['idle_sockets']} sockets, rooms of {settings['idle_room_size']}",
        text_table(IDLE_HEADER, idle_rows(results)),
    ]
    errors = [(entry["name"], error) for entry in results["servers"] for error in entry["errors"]]
    if errors:
        parts += ["", "Errors:"] + [f"  {name}: {error}" for name, error in errors]
    parts += ["", f"Run took {results['seconds']:.0f} s ({results['mode']})."]
    return "\n".join(parts)


def stamp(results):
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(results["started"]))


def write(results, page=True):
    """bench/results/<date>-<mode>.json and .png, and docs/performance.md; their paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"{stamp(results)}-{results['mode']}"
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return [json_path]
