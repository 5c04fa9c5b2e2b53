"""The benchmark's machinery on a tiny workload: sane numbers, a report, nothing left running."""

import io
import json
import os
import shutil

import psutil
import pytest

from bench import page, report, runner
from bench.servers import ServerSpec


def tiny_settings():
    """The floor, step 4 on Daphne, and step 4 on uvicorn with Redis when redis-server exists."""
    settings = runner.tiny_settings()
    if shutil.which("redis-server"):
        settings.servers.append(ServerSpec("step4", "uvicorn", "redis"))
    elif os.environ.get("CI"):
        pytest.fail("redis-server is needed: sudo apt-get install redis-server")
    return settings


def test_tiny_run_measures_sane_numbers_and_stops_every_process(tmp_path):
    """Three sockets per server: every message reaches every member once, the latencies and
    CPU times are plausible, the report renders, and no process of the run outlives it."""
    ours = psutil.Process()
    before = {child.pid for child in ours.children(recursive=True)}
    settings = tiny_settings()
    progress = io.StringIO()

    results = runner.run(settings, progress_stream=progress)

    # Nothing the run started is still running: servers, redis-server, load generators. (The
    # resource tracker that multiprocessing starts once per interpreter exits with pytest.)
    left = [child for child in ours.children(recursive=True) if child.pid not in before]
    left = [child.cmdline() for child in left if child.is_running()]
    assert [line for line in left if "multiprocessing.resource_tracker" not in str(line)] == []
    assert "step4 daphne memory: burst" in progress.getvalue()

    assert [entry["name"] for entry in results["servers"]] == [s.name for s in settings.servers]
    for entry in results["servers"]:
        assert entry["errors"] == [], entry["name"]
        saturation = entry["workloads"]["saturation_3"]
        assert saturation["sent"] > 0
        # Every member (the sender included) heard every message, exactly once.
        assert saturation["deliveries"] == saturation["sent"] * 3
        assert saturation["expected_deliveries"] == saturation["deliveries"]
        assert saturation["duplicates"] == 0 and saturation["lost_sockets"] == 0
        assert 0 < saturation["p50_ms"] <= saturation["p99_ms"] <= saturation["max_ms"] < 30_000
        assert saturation["deliveries_per_second"] > 0
        assert saturation["server_cpu_seconds"] >= 0 and saturation["client_cpu_seconds"] > 0

        steady = entry["workloads"]["steady"]
        assert steady["sent"] == int(settings.steady_rate * settings.steady_seconds)
        assert steady["delivered_fraction"] == 1.0

        burst = entry["workloads"]["burst"]
        assert burst["sent"] == settings.burst_senders * settings.burst_messages
        assert burst["delivered_fraction"] == 1.0
        assert burst["complete_clients"] == settings.burst_clients

        idle = entry["workloads"]["idle"]
        assert idle["sockets"] == settings.idle_sockets
        assert idle["rss_after_bytes"] > 0 and idle["rss_before_bytes"] > 0

    # The step 4 servers really ran the layer they are named after.
    layers = {
        entry["name"]: entry.get("details", {}).get("layer_backend") for entry in results["servers"]
    }
    assert layers["step4 daphne memory"] == "channels.layers.InMemoryChannelLayer"

    # The outputs: a JSON document, a table, a plot and the page, all from these numbers.
    results["machine"] = report.machine()
    json.dumps(results)
    table = report.table(results)
    assert "floor (websockets)" in table and "step4 daphne memory" in table
    png = tmp_path / "plot.png"
    report.plot(results, png)
    assert png.read_bytes().startswith(b"\x89PNG")
    text = page.performance_page(results, tmp_path / "run.json", png)
    assert "## The short answer" in text and "| step4 daphne memory |" in text
