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
PACKAGES = "Django channels daphne channels-redis redis websockets uvicorn uvloop httptools".split()
CPU = "server_cpu_us_per_delivery"


def machine():
    """The machine and the versions the numbers were measured with."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    versions = {"Python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    if redis_server := shutil.which("redis-server"):
        output = subprocess.run([redis_server, "--version"], capture_output=True, text=True).stdout
        words = [word[2:] for word in output.split() if word.startswith("v=")]
        versions["redis-server"] = words[0] if words else output.strip()
    return {
        "system": f"{platform.system()} {platform.release()}",
        "cpu": models[0] if models else platform.machine(),
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


def find(results, app, server=None):
    """The first server of the run that is `app` on `server` as shipped: one process, the
    in-memory layer (the floor has none), no variant."""
    for entry in results["servers"]:
        spec = entry["spec"]
        shipped = spec["workers"] == 1 and not (spec["label"] or spec["fast"])
        layer = app == "floor" or spec["layer"] == "memory"
        if shipped and layer and spec["app"] == app and server in (None, spec["server"]):
            return entry
    return None


def ratio(numerator, denominator):
    return None if numerator is None or not denominator else numerator / denominator


def number(amount, digits=0, scale=1.0, suffix=""):
    return "-" if amount is None else f"{amount * scale:,.{digits}f}{suffix}"


def times(amount):
    return number(amount, 2, suffix="x")


def main_servers(results):
    """The servers of the run that are not ablation variants."""
    return [entry for entry in results["servers"] if not entry["spec"]["only"]]


def tutorial_for(results, entry):
    """The tutorial on the same ASGI server as `entry` (Daphne or uvicorn)."""
    return find(results, "tutorial", entry["spec"]["server"])


def with_lost(data):
    """A workload's numbers and the deliveries it lost."""
    return {**data, "lost": data["expected_deliveries"] - data["deliveries"] if data else None}


# The tables: (title, header, rows). A column is its header, the name of the number it shows
# and the rest of number()'s arguments; TIMES is how a ratio is shown.
TIMES = (2, 1, "x")


def table(title, first, columns, rows):
    """(title, header, rows of text) for `rows`, each its first cells and its numbers by name:
    every column writes one of those numbers with number()."""
    cells = [
        start + [number(numbers.get(name), *style) for _, name, *style in columns]
        for start, numbers in rows
    ]
    return title, first + [column[0] for column in columns], cells


def saturation_table(results):
    floor, rows = find(results, "floor"), []
    for entry in main_servers(results):
        tutorial = tutorial_for(results, entry)
        for clients in results["settings"]["saturation_clients"]:
            key = f"saturation_{clients}"
            numbers = with_lost(workload(entry, key))
            numbers["x tutorial"] = ratio(numbers.get(CPU), value(tutorial, key, CPU))
            numbers["x floor"] = ratio(numbers.get(CPU), value(floor, key, CPU))
            rows.append(([entry["name"], clients], numbers))
    columns = [("deliveries/s", "deliveries_per_second"), ("p50 ms", "p50_ms", 1)]
    columns += [("p99 ms", "p99_ms", 1), ("server CPU µs/delivery", CPU, 1)]
    columns += [("x tutorial", "x tutorial", *TIMES), ("x floor", "x floor", 1, 1, "x")]
    columns += [("load-gen CPU µs/delivery", "client_cpu_us_per_delivery", 1)]
    columns += [("server CPU %", "server_cpu_share", 0, 100), ("lost", "lost")]
    window = results["settings"]["saturation_window"]
    title = f"Saturation: one sender, at most {window} messages in flight"
    return table(title, ["server", "C"], columns, rows)


def steady_table(results):
    rows = [
        ([entry["name"]], with_lost(workload(entry, "steady"))) for entry in main_servers(results)
    ]
    columns = [("p50 ms", "p50_ms", 1), ("p99 ms", "p99_ms", 1), ("max ms", "max_ms", 1)]
    columns += [("server CPU µs/delivery", CPU, 1), ("lost", "lost")]
    settings = results["settings"]
    title = f"Steady: {settings['steady_rate']:g} messages/s into C = {settings['steady_clients']}"
    return table(title, ["server"], columns, rows)


def burst_table(results):
    rows = [([entry["name"]], workload(entry, "burst")) for entry in main_servers(results)]
    columns = [("saved", "sent"), ("delivered", "delivered_fraction", 1, 100, "%")]
    columns += [("members with all", "complete_clients"), ("drain s", "seconds", 2)]
    settings = results["settings"]
    title = (
        f"Burst: {settings['burst_senders']} senders x {settings['burst_messages']} messages, "
        f"C = {settings['burst_clients']}"
    )
    return table(title, ["server"], [*columns, ("p99 ms", "p99_ms", 0)], rows)


def storm_table(results):
    rows = []
    for entry in main_servers(results):
        numbers = dict(workload(entry, "storm"))
        tutorial = value(tutorial_for(results, entry), "storm", "storm_per_second")
        numbers["x tutorial"] = ratio(numbers.get("storm_per_second"), tutorial)
        rows.append(([entry["name"]], numbers))
    columns = [("KiB/socket", "bytes_per_socket", 1, 1 / 1024), ("join/s", "join_per_second")]
    columns += [("storm connections/s", "storm_per_second"), ("x tutorial", "x tutorial", *TIMES)]
    columns += [("storm CPU µs/socket", "storm_cpu_us_per_socket")]
    columns += [("sockets without all", "incomplete_sockets")]
    columns += [("messages missing", "missing_messages")]
    settings = results["settings"]
    title = (
        f"Reconnect storm: {settings['storm_sockets']:,} sockets in rooms of "
        f"{settings['storm_room_size']}, all back at once"
    )
    return table(title, ["server"], columns, rows)


def signed_in_table(results):
    rows = []
    for entry in main_servers(results):
        if entry["spec"]["app"] == "step4":
            numbers = with_lost(workload(entry, "signed_in"))
            guest = numbers["guest"] = value(entry, "saturation_2", CPU)
            tutorial = value(tutorial_for(results, entry), "saturation_2", CPU)
            numbers["x guest"] = ratio(numbers.get(CPU), guest)
            numbers["x tutorial"] = ratio(numbers.get(CPU), tutorial)
            rows.append(([entry["name"]], numbers))
    columns = [("guest sender µs/delivery", "guest", 1), ("signed-in sender µs/delivery", CPU, 1)]
    columns += [("x guest", "x guest", *TIMES), ("x tutorial (C = 2)", "x tutorial", *TIMES)]
    columns += [("p99 ms", "p99_ms", 1), ("lost", "lost")]
    title = "A room of two whose sender is signed in: its session is read again for each message"
    return table(title, ["server"], columns, rows)


ABLATION_COLUMNS = [
    ("C = 2 CPU µs/delivery", "saturation_2", CPU),
    ("C = 50 CPU µs/delivery", "saturation_50", CPU),
    ("storm CPU µs/socket", "storm", "storm_cpu_us_per_socket"),
    ("steady p99 ms", "steady", "p99_ms"),
]


def ablation_table(results):
    shipped = find(results, "step4", "daphne")
    rows = []
    for entry in [shipped] + [e for e in results["servers"] if e["spec"]["only"]]:
        if entry is None:
            continue
        row = [entry["name"] + (" (as shipped)" if entry is shipped else "")]
        for _, key, field in ABLATION_COLUMNS:
            mine = value(entry, key, field)
            row += [number(mine, 1), times(ratio(mine, value(shipped, key, field)))]
        rows.append(row)
    header = ["variant (Daphne, memory)"]
    header += [name for column in ABLATION_COLUMNS for name in (column[0], "vs shipped")]
    return "Ablation: step 4 with one change undone", header, rows


def targets(results):
    """Each target: what is compared, the numbers, the ratio, the goal and whether it is met."""
    rows = []

    def target(what, numbers, amount, goal, met):
        rows.append([what, numbers, amount, goal, "met" if met else "**not met**"])

    def step4_over_tutorial(what, server, key, field, unit, goal):
        mine = value(find(results, "step4", server), key, field)
        base = value(find(results, "tutorial", server), key, field)
        share = ratio(mine, base)
        numbers = f"{number(mine, 1)} / {number(base, 1)} {unit}"
        target(what, numbers, times(share), f"≤ {goal}x", share is not None and share <= goal)

    for server in ("daphne", "uvicorn"):
        for clients, goal in ((2, 1.0), (10, 0.7), (50, 0.5)):
            what = f"server CPU per delivery, C = {clients}, {server}: step 4 / tutorial"
            step4_over_tutorial(what, server, f"saturation_{clients}", CPU, "µs", goal)
    for server in ("daphne", "uvicorn"):
        ours = workload(find(results, "step4", server), "storm")
        base = value(find(results, "tutorial", server), "storm", "storm_per_second")
        share = ratio(ours.get("storm_per_second"), base)
        target(
            f"reconnect storm, {server}: step 4 / tutorial connections/s, nothing lost",
            f"{number(ours.get('storm_per_second'))} / {number(base)} per s, "
            f"{number(ours.get('missing_messages'))} messages missing",
            times(share),
            "≥ 1.0x, 0 missing",
            share is not None and share >= 1.0 and ours.get("incomplete_sockets") == 0,
        )
    floor = value(find(results, "floor"), "saturation_50", CPU)
    several = [entry for entry in results["servers"] if entry["spec"]["workers"] > 1]
    production = [(value(entry, "saturation_50", CPU), entry["name"]) for entry in several]
    if production := sorted(item for item in production if item[0] is not None):
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
        what = f"steady p99 at C = 200, {server}: step 4 / tutorial"
        step4_over_tutorial(what, server, "steady", "p99_ms", "ms", 0.5)
    return "Targets", ["target", "measured", "ratio", "goal", "verdict"], rows


def all_tables(results):
    """Every table, by the name that marks its place in docs/performance.md."""
    tables = [targets, saturation_table, steady_table, burst_table, storm_table]
    tables += [signed_in_table, ablation_table]
    return {table.__name__.removesuffix("_table"): table(results) for table in tables}


def tables(results):
    """The whole run as plain text tables, for the terminal (workloads that ran)."""
    parts = []
    for title, header, rows in all_tables(results).values():
        if any(cell not in ("-", "") for row in rows for cell in row[2:]):  # it ran
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
        axes.set(xscale="log", yscale="log", xticks=clients, xlabel="C: sockets in the room")
        axes.xaxis.set_major_formatter(FuncFormatter(lambda amount, _: f"{amount:g}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.yaxis.set_major_formatter(FuncFormatter(lambda amount, _: f"{amount:,.0f}"))
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
