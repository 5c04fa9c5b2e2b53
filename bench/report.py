"""What a run produced, as a terminal table, bench/results/<date>.json, a PNG plot and the page."""

import json
import math
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
    """The whole run as plain text tables, for the terminal (workloads that ran)."""
    settings = results["settings"]
    sections = [
        (
            f"Saturation: one sender, at most {settings['saturation_window']} messages in flight",
            SATURATION_HEADER,
            saturation_rows(results),
        ),
        (
            f"Steady: {settings['steady_rate']:g} messages/s into C = {settings['steady_clients']}",
            STEADY_HEADER,
            steady_rows(results),
        ),
        (
            f"Burst: {settings['burst_senders']} senders x {settings['burst_messages']} messages, "
            f"C = {settings['burst_clients']}",
            BURST_HEADER,
            burst_rows(results),
        ),
        (
            f"Idle memory: {settings['idle_sockets']} sockets, rooms of "
            f"{settings['idle_room_size']}",
            IDLE_HEADER,
            idle_rows(results),
        ),
    ]
    parts = []
    for title, header, rows in sections:
        if any(cell not in ("-", "-%") for row in rows for cell in row[1:]):
            parts += [title, text_table(header, rows), ""]
    errors = [(entry["name"], error) for entry in results["servers"] for error in entry["errors"]]
    if errors:
        parts += ["Errors:"] + [f"  {name}: {error}" for name, error in errors]
    parts += [f"Run took {results['seconds']:.0f} s ({results['mode']})."]
    return "\n".join(parts)


def stamp(results):
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(results["started"]))


def write(results, page=True):
    """bench/results/<date>-<mode>.json and .png and, unless page=False, docs/performance.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"{stamp(results)}-{results['mode']}"
    json_path = base.with_suffix(".json")
    png_path = base.with_suffix(".png")
    plot(results, png_path)
    results["plot"] = png_path.name
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    paths = [json_path, png_path]
    if page:
        paths.append(write_page(results, json_path))
    return paths


def write_page(results, json_path):
    """docs/performance.md from a run's results (its plot is the PNG next to its JSON)."""
    from bench.page import performance_page

    PAGE.write_text(performance_page(results, json_path, json_path.with_suffix(".png")))
    return PAGE


# The plot

STYLE = {
    "floor": {"color": "black", "marker": "s"},
    "tutorial": {"color": "tab:gray", "marker": "o"},
    "memory": {"color": "tab:blue", "marker": "^"},
    "redis": {"color": "tab:red", "marker": "D"},
    "redis-pubsub": {"color": "tab:green", "marker": "v"},
}


def line_style(spec):
    style = dict(STYLE["floor" if spec["app"] == "floor" else spec["layer"]])
    if spec["app"] == "tutorial":
        style = dict(STYLE["tutorial"])
    style["linestyle"] = "--" if spec["server"] == "uvicorn" else "-"
    return style


def two_and_five(value, _):
    """Label 2 and 5 between the powers of ten, so a log axis reads without counting lines."""
    if value <= 0:
        return ""
    leading = value / 10 ** math.floor(math.log10(value))
    return f"{value:,.0f}" if round(leading) in (2, 5) else ""


def plot(results, path):
    """Deliveries per second and p99 latency against C, one line per server."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import FuncFormatter

    clients = results["settings"]["saturation_clients"]
    figure, (rate_axes, p99_axes) = pyplot.subplots(1, 2, figsize=(12, 5.8), dpi=110)
    for entry in results["servers"]:
        points = [(count, workload(entry, f"saturation_{count}")) for count in clients]
        points = [(count, data) for count, data in points if data]
        if not points:
            continue
        xs = [count for count, _ in points]
        style = line_style(entry["spec"])
        rate_axes.plot(
            xs, [data["deliveries_per_second"] for _, data in points], label=entry["name"], **style
        )
        p99_axes.plot(xs, [data["p99_ms"] for _, data in points], label=entry["name"], **style)
    for axes, title, unit in (
        (rate_axes, "Deliveries per second (higher is better)", "deliveries/s"),
        (p99_axes, "p99 latency under saturation (lower is better)", "ms"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(clients)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.yaxis.set_minor_formatter(FuncFormatter(two_and_five))
        axes.tick_params(axis="y", which="minor", labelsize=8)
        axes.set_xlabel("C: sockets in the room")
        axes.set_ylabel(unit)
        axes.set_title(title, fontsize=11)
        axes.grid(True, which="both", alpha=0.3)
    handles, labels = rate_axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    figure.suptitle(
        f"Fan-out: one sender, at most {results['settings']['saturation_window']} messages in "
        f"flight ({results['mode']} run, {stamp(results)[:10]})",
        fontsize=12,
    )
    figure.tight_layout(rect=(0, 0.13, 1, 0.95))
    figure.savefig(path)
    pyplot.close(figure)


# Targets (issue 6): ratios from the same run


def find(results, app, server=None, layer=None):
    for entry in results["servers"]:
        spec = entry["spec"]
        if (
            spec["app"] == app
            and server in (None, spec["server"])
            and layer in (None, spec["layer"])
        ):
            return entry
    return None


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def against_tutorial(results, workload_name, key):
    """(server, step 4's value, the tutorial's, their ratio) on Daphne and uvicorn, in memory."""
    for server in ("daphne", "uvicorn"):
        ours = find(results, "step4", server, "memory")
        theirs = find(results, "tutorial", server, "memory")
        if ours and theirs:
            mine = workload(ours, workload_name).get(key)
            base = workload(theirs, workload_name).get(key)
            yield server, mine, base, ratio(mine, base)


def targets(results):
    """Each target: what is compared, the numbers, the ratio, the goal and whether it is met."""
    rows = []
    step4 = [entry for entry in results["servers"] if entry["spec"]["app"] == "step4"]
    fractions = [
        (entry["name"], workload(entry, "burst").get("delivered_fraction")) for entry in step4
    ]
    measured = [value for _, value in fractions if value is not None]
    rows.append(
        {
            "target": "Burst: every member gets every saved message, step 4 on every server "
            "and layer",
            "short": "the burst delivered in full",
            "numbers": ", ".join(f"{name}: {number(value, 1, 100)}%" for name, value in fractions),
            "ratio": min(measured) if measured else None,
            "goal": "100%",
            "met": bool(measured) and len(measured) == len(fractions) and min(measured) >= 1.0,
            "percent": True,
        }
    )
    for server, mine, base, value in against_tutorial(
        results, "saturation_50", "server_cpu_us_per_delivery"
    ):
        rows.append(
            {
                "target": f"Server CPU per delivery at C = 50 on {server}: step 4 as shipped "
                "(persistence included) against the tutorial baseline",
                "short": f"CPU per delivery against the tutorial on {server}",
                "numbers": f"{number(mine, 1)} µs against {number(base, 1)} µs",
                "ratio": value,
                "goal": "≤ 1.0x (aim 0.7x)",
                "met": value is not None and value <= 1.0,
                "aim_met": value is not None and value <= 0.7,
            }
        )
    floor = find(results, "floor")
    floor_cpu = (
        workload(floor, "saturation_50").get("server_cpu_us_per_delivery") if floor else None
    )
    production = [entry for entry in step4 if entry["spec"]["layer"] == "redis"]
    production = [
        (workload(entry, "saturation_50").get("server_cpu_us_per_delivery"), entry["name"])
        for entry in production
    ]
    production = [item for item in production if item[0] is not None]
    if production and floor_cpu:
        best, name = min(production)
        value = ratio(best, floor_cpu)
        rows.append(
            {
                "target": "Server CPU per delivery at C = 50: the guide's production setup "
                "(RedisChannelLayer), best server, against the floor",
                "short": "CPU per delivery of the production setup against the floor",
                "numbers": f"{name}: {number(best, 1)} µs (Redis included) against "
                f"{number(floor_cpu, 1)} µs",
                "ratio": value,
                "goal": "≤ 15x",
                "met": value is not None and value <= 15,
            }
        )
    for server, mine, base, value in against_tutorial(results, "steady", "p99_ms"):
        rows.append(
            {
                "target": f"p99 latency at 20 messages/s into C = 200 on {server}: step 4 as "
                "shipped against the tutorial baseline",
                "short": f"steady p99 against the tutorial on {server}",
                "numbers": f"{number(mine, 1)} ms against {number(base, 1)} ms",
                "ratio": value,
                "goal": "≤ 0.5x",
                "met": value is not None and value <= 0.5,
            }
        )
    return rows


def verdict(row):
    if row["met"]:
        return "**met**" + (" (and the 0.7x aim)" if row.get("aim_met") else "")
    return "**not met**"


def ratio_text(row):
    if row["ratio"] is None:
        return "-"
    if row.get("percent"):
        return f"{row['ratio'] * 100:.1f}%"
    return f"{row['ratio']:.2f}x"


def targets_table(results):
    lines = ["| target | measured | ratio | goal | verdict |", "| --- | --- | ---: | --- | --- |"]
    for row in targets(results):
        lines.append(
            f"| {row['target']} | {row['numbers']} | {ratio_text(row)} | {row['goal']} | "
            f"{verdict(row)} |"
        )
    return "\n".join(lines)


def summary_rows(results):
    floor = find(results, "floor")
    floor_cpu = (
        workload(floor, "saturation_50").get("server_cpu_us_per_delivery") if floor else None
    )
    rows = []
    for entry in results["servers"]:
        saturation = workload(entry, "saturation_50")
        cpu = saturation.get("server_cpu_us_per_delivery")
        burst = workload(entry, "burst").get("delivered_fraction")
        rows.append(
            [
                entry["name"],
                number(saturation.get("deliveries_per_second")),
                number(cpu, 1),
                number(ratio(cpu, floor_cpu), 1) + "x" if ratio(cpu, floor_cpu) else "-",
                number(workload(entry, "steady").get("p99_ms"), 1),
                number(burst, 1, 100) + "%" if burst is not None else "-",
                number(workload(entry, "idle").get("bytes_per_socket"), 1, 1 / 1024),
            ]
        )
    return rows


SUMMARY_HEADER = [
    "server",
    "deliveries/s at C = 50",
    "server CPU µs/delivery at C = 50",
    "x floor",
    "steady p99 ms",
    "burst delivered",
    "KiB/socket idle",
]
