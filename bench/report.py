"""What a run produced: tables (for the terminal and for the page), the targets, the JSON file
and the PNG plot in bench/results/."""

import json
import os
import platform
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

import psutil
from tabulate import tabulate

from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
PACKAGES = ["Django", "channels", "daphne", "channels-redis", "redis", "websockets", "uvicorn"]
PACKAGES += ["uvloop", "httptools"]


def machine():
    """The machine and the versions the numbers were measured with."""
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {"Python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    redis_server = shutil.which("redis-server")
    if redis_server:
        output = subprocess.run([redis_server, "--version"], capture_output=True, text=True)
        words = [word[2:] for word in output.stdout.split() if word.startswith("v=")]
        versions["redis-server"] = words[0] if words else output.stdout.strip()
    return {
        "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "load_average": os.getloadavg(),
        "versions": versions,
    }


# Reading a run


def workload(entry, key):
    return (entry or {}).get("workloads", {}).get(key) or {}


def value(entry, key, field):
    return workload(entry, key).get(field)


def find(results, app, server=None, layer="memory", workers=1):
    """The first server of the run that is `app` on `server`, as shipped (no variant)."""
    for entry in results["servers"]:
        spec = entry["spec"]
        if (
            spec["app"] == app
            and server in (None, spec["server"])
            and (app == "floor" or spec["layer"] == layer)
            and spec["workers"] == workers
            and not spec["label"]
            and not spec["fast"]
        ):
            return entry
    return None


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def number(amount, digits=0, scale=1.0, suffix=""):
    return "-" if amount is None else f"{amount * scale:,.{digits}f}{suffix}"


def times(amount):
    return number(amount, 2, suffix="x")


def lost(data):
    return number(data["expected_deliveries"] - data["deliveries"]) if data else "-"


def main_servers(results):
    """The servers of the run that are not ablation variants."""
    return [entry for entry in results["servers"] if not entry["spec"]["only"]]


def tutorial_for(results, entry):
    """The tutorial on the same ASGI server as `entry` (Daphne or uvicorn)."""
    return find(results, "tutorial", entry["spec"]["server"])


# The tables: (title, header, rows)


def saturation_table(results):
    floor = find(results, "floor")
    rows = []
    for entry in main_servers(results):
        tutorial = tutorial_for(results, entry)
        for clients in results["settings"]["saturation_clients"]:
            key = f"saturation_{clients}"
            data = workload(entry, key)
            cpu = data.get("server_cpu_us_per_delivery")
            rows.append(
                [
                    entry["name"],
                    clients,
                    number(data.get("deliveries_per_second")),
                    number(data.get("p50_ms"), 1),
                    number(data.get("p99_ms"), 1),
                    number(cpu, 1),
                    times(ratio(cpu, value(tutorial, key, "server_cpu_us_per_delivery"))),
                    number(ratio(cpu, value(floor, key, "server_cpu_us_per_delivery")), 1, 1, "x"),
                    number(data.get("client_cpu_us_per_delivery"), 1),
                    number(data.get("server_cpu_share"), 0, 100),
                    lost(data),
                ]
            )
    header = ["server", "C", "deliveries/s", "p50 ms", "p99 ms", "server CPU µs/delivery"]
    header += ["x tutorial", "x floor", "load-gen CPU µs/delivery", "server CPU %", "lost"]
    settings = results["settings"]
    title = f"Saturation: one sender, at most {settings['saturation_window']} messages in flight"
    return title, header, rows


def steady_table(results):
    rows = []
    for entry in main_servers(results):
        data = workload(entry, "steady")
        rows.append(
            [entry["name"]]
            + [number(data.get(field), 1) for field in ("p50_ms", "p99_ms", "max_ms")]
            + [number(data.get("server_cpu_us_per_delivery"), 1), lost(data)]
        )
    settings = results["settings"]
    title = f"Steady: {settings['steady_rate']:g} messages/s into C = {settings['steady_clients']}"
    return title, ["server", "p50 ms", "p99 ms", "max ms", "server CPU µs/delivery", "lost"], rows


def burst_table(results):
    rows = []
    for entry in main_servers(results):
        data = workload(entry, "burst")
        rows.append(
            [
                entry["name"],
                number(data.get("sent")),
                number(data.get("delivered_fraction"), 1, 100, "%"),
                number(data.get("complete_clients")),
                number(data.get("seconds"), 2),
                number(data.get("p99_ms"), 0),
            ]
        )
    settings = results["settings"]
    title = (
        f"Burst: {settings['burst_senders']} senders x {settings['burst_messages']} messages, "
        f"C = {settings['burst_clients']}"
    )
    return title, ["server", "saved", "delivered", "members with all", "drain s", "p99 ms"], rows


def storm_table(results):
    rows = []
    for entry in main_servers(results):
        data = workload(entry, "storm")
        rate = data.get("storm_per_second")
        tutorial = value(tutorial_for(results, entry), "storm", "storm_per_second")
        rows.append(
            [
                entry["name"],
                number(data.get("bytes_per_socket"), 1, 1 / 1024),
                number(data.get("join_per_second")),
                number(rate),
                times(ratio(rate, tutorial)),
                number(data.get("storm_cpu_us_per_socket")),
                number(data.get("incomplete_sockets")),
                number(data.get("missing_messages")),
            ]
        )
    settings = results["settings"]
    title = (
        f"Reconnect storm: {settings['storm_sockets']:,} sockets in rooms of "
        f"{settings['storm_room_size']}, all back at once"
    )
    header = ["server", "KiB/socket", "join/s", "storm connections/s", "x tutorial"]
    header += ["storm CPU µs/socket", "sockets without all", "messages missing"]
    return title, header, rows


def signed_in_table(results):
    rows = []
    for entry in main_servers(results):
        if entry["spec"]["app"] != "step4":
            continue
        data = workload(entry, "signed_in")
        cpu = data.get("server_cpu_us_per_delivery")
        guest = value(entry, "saturation_2", "server_cpu_us_per_delivery")
        tutorial = value(tutorial_for(results, entry), "saturation_2", "server_cpu_us_per_delivery")
        rows.append(
            [
                entry["name"],
                number(guest, 1),
                number(cpu, 1),
                times(ratio(cpu, guest)),
                times(ratio(cpu, tutorial)),
                number(data.get("p99_ms"), 1),
                lost(data),
            ]
        )
    title = "A room of two whose sender is signed in: its session is read again for each message"
    header = ["server", "guest sender µs/delivery", "signed-in sender µs/delivery"]
    header += ["x guest", "x tutorial (C = 2)", "p99 ms", "lost"]
    return title, header, rows


ABLATION_COLUMNS = [
    ("saturation_2", "server_cpu_us_per_delivery"),
    ("saturation_50", "server_cpu_us_per_delivery"),
    ("storm", "storm_cpu_us_per_socket"),
    ("steady", "p99_ms"),
]


def ablation_table(results):
    shipped = find(results, "step4", "daphne")
    rows = []
    for entry in [shipped] + [e for e in results["servers"] if e["spec"]["only"]]:
        if entry is None:
            continue
        row = [entry["name"] + (" (as shipped)" if entry is shipped else "")]
        for key, field in ABLATION_COLUMNS:
            mine = value(entry, key, field)
            row += [number(mine, 1), times(ratio(mine, value(shipped, key, field)))]
        rows.append(row)
    header = ["variant (Daphne, memory)", "C = 2 CPU µs/delivery", "vs shipped"]
    header += ["C = 50 CPU µs/delivery", "vs shipped", "storm CPU µs/socket", "vs shipped"]
    header += ["steady p99 ms", "vs shipped"]
    return "Ablation: step 4 with one change undone", header, rows


def targets(results):
    """Each target: what is compared, the numbers, the ratio, the goal and whether it is met."""
    rows = []

    def target(what, numbers, amount, goal, met):
        rows.append([what, numbers, amount, goal, "met" if met else "**not met**"])

    for server in ("daphne", "uvicorn"):
        ours, theirs = find(results, "step4", server), find(results, "tutorial", server)
        for clients, goal in ((2, 1.0), (10, 0.7), (50, 0.5)):
            key = f"saturation_{clients}"
            mine = value(ours, key, "server_cpu_us_per_delivery")
            base = value(theirs, key, "server_cpu_us_per_delivery")
            share = ratio(mine, base)
            target(
                f"server CPU per delivery, C = {clients}, {server}: step 4 / tutorial",
                f"{number(mine, 1)} / {number(base, 1)} µs",
                times(share),
                f"≤ {goal}x",
                share is not None and share <= goal,
            )
    for server in ("daphne", "uvicorn"):
        ours = workload(find(results, "step4", server), "storm")
        base = value(find(results, "tutorial", server), "storm", "storm_per_second")
        share = ratio(ours.get("storm_per_second"), base)
        complete = ours.get("incomplete_sockets") == 0
        target(
            f"reconnect storm, {server}: step 4 / tutorial connections/s, nothing lost",
            f"{number(ours.get('storm_per_second'))} / {number(base)} per s, "
            f"{number(ours.get('missing_messages'))} messages missing",
            times(share),
            "≥ 1.0x, 0 missing",
            share is not None and share >= 1.0 and complete,
        )
    floor = value(find(results, "floor"), "saturation_50", "server_cpu_us_per_delivery")
    production = [
        (value(entry, "saturation_50", "server_cpu_us_per_delivery"), entry["name"])
        for entry in results["servers"]
        if entry["spec"]["workers"] > 1
    ]
    production = sorted(item for item in production if item[0] is not None)
    if production:
        best, name = production[0]
        share = ratio(best, floor)
        target(
            f"production, C = 50: best of several processes sharing Redis / floor ({name})",
            f"{number(best, 1)} / {number(floor, 1)} µs, Redis included",
            number(share, 1, 1, "x"),
            "≤ 10x",
            share is not None and share <= 10,
        )
    step4 = [entry for entry in main_servers(results) if entry["spec"]["app"] == "step4"]
    fractions = [value(entry, "burst", "delivered_fraction") for entry in step4]
    measured = [fraction for fraction in fractions if fraction is not None]
    target(
        f"burst delivered in full by step 4 on all {len(step4)} servers and layers",
        "worst: " + number(min(measured, default=None), 1, 100, "%"),
        "",
        "100%",
        bool(fractions) and all(fraction == 1.0 for fraction in fractions),
    )
    for server in ("daphne", "uvicorn"):
        mine = value(find(results, "step4", server), "steady", "p99_ms")
        base = value(find(results, "tutorial", server), "steady", "p99_ms")
        share = ratio(mine, base)
        target(
            f"steady p99 at C = 200, {server}: step 4 / tutorial",
            f"{number(mine, 1)} / {number(base, 1)} ms",
            times(share),
            "≤ 0.5x",
            share is not None and share <= 0.5,
        )
    return "Targets", ["target", "measured", "ratio", "goal", "verdict"], rows


def all_tables(results):
    return [
        targets(results),
        saturation_table(results),
        steady_table(results),
        burst_table(results),
        storm_table(results),
        signed_in_table(results),
        ablation_table(results),
    ]


def has_numbers(rows):
    return any(cell not in ("-", "") for row in rows for cell in row[2:])


def tables(results):
    """The whole run as plain text tables, for the terminal (workloads that ran)."""
    parts = []
    for title, header, rows in all_tables(results):
        if has_numbers(rows):
            parts += [title, tabulate(rows, header, tablefmt="simple", disable_numparse=True), ""]
    errors = [f"  {e['name']}: {error}" for e in results["servers"] for error in e["errors"]]
    if errors:
        parts += ["Errors:", *errors, ""]
    parts.append(f"Run took {results['seconds']:.0f} s ({results['mode']}).")
    return "\n".join(parts)


def markdown(title_header_rows):
    _, header, rows = title_header_rows
    align = ["left"] + ["right"] * (len(header) - 1)
    return tabulate(rows, header, tablefmt="github", colalign=align, disable_numparse=True)


def stamp(results):
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(results["started"]))


def write(results):
    """bench/results/<date>-<mode>.json and the PNG plot next to it: the paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"{stamp(results)}-{results['mode']}"
    json_path, png_path = base.with_suffix(".json"), base.with_suffix(".png")
    plot(results, png_path)
    results["plot"] = png_path.name
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return [json_path, png_path]


def plot(results, path):
    """Deliveries per second and p99 latency against C, one line per server."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import FuncFormatter, NullFormatter

    clients = results["settings"]["saturation_clients"]
    colours = {"none": "black", "memory": "tab:blue", "redis": "tab:red"}
    colours["redis-pubsub"] = "tab:green"
    markers = {"floor": "s", "tutorial": "o", "step4": "^"}
    figure, axes_pair = pyplot.subplots(1, 2, figsize=(12, 5.8), dpi=110)
    for entry in main_servers(results):
        spec = entry["spec"]
        points = [(c, workload(entry, f"saturation_{c}")) for c in clients]
        points = [(c, data) for c, data in points if data]
        if not points:
            continue
        style = {
            "color": "tab:gray" if spec["app"] == "tutorial" else colours[spec["layer"]],
            "marker": markers[spec["app"]],
            "linestyle": "--" if spec["server"] == "uvicorn" else "-",
            "linewidth": 2.5 if spec["workers"] > 1 else 1.5,
            "label": entry["name"],
        }
        for axes, field in zip(axes_pair, ("deliveries_per_second", "p99_ms"), strict=True):
            axes.plot([c for c, _ in points], [data[field] for _, data in points], **style)
    titles = [
        ("Deliveries per second (higher is better)", "deliveries/s"),
        ("p99 latency under saturation (lower is better)", "ms"),
    ]
    for axes, (title, unit) in zip(axes_pair, titles, strict=True):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(clients)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda amount, _: f"{amount:g}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.yaxis.set_major_formatter(FuncFormatter(lambda amount, _: f"{amount:,.0f}"))
        axes.set_xlabel("C: sockets in the room")
        axes.set_ylabel(unit)
        axes.set_title(title, fontsize=11)
        axes.grid(True, which="both", alpha=0.3)
    handles, labels = axes_pair[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    figure.suptitle(
        f"Fan-out: one sender, at most {results['settings']['saturation_window']} messages in "
        f"flight ({results['mode']} run, {stamp(results)[:10]})",
        fontsize=12,
    )
    figure.tight_layout(rect=(0, 0.15, 1, 0.95))
    figure.savefig(path)
    pyplot.close(figure)
