"""The benchmark's machinery on a tiny workload: sane numbers, tables, nothing left running."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys

import psutil
import pytest

from bench import page, report, runner, variants
from bench.servers import ROOT, ServerSpec


def tiny_settings():
    """The floor, step 4 on Daphne, the tutorial's storm (its route takes the storm's room
    names), one ablation variant and, when redis-server exists, two uvicorn workers sharing
    Redis."""
    settings = runner.tiny_settings()
    settings.servers.append(ServerSpec("tutorial", "daphne", "memory", only=("storm",)))
    settings.servers.append(
        variants.variant(
            "with Channels' dispatch()", application="channels_dispatch", only=("saturation_2",)
        )
    )
    if shutil.which("redis-server"):
        settings.servers.append(ServerSpec("step4", "uvicorn", "redis", workers=2, fast=True))
    elif os.environ.get("CI"):
        pytest.fail("redis-server is needed: sudo apt-get install redis-server")
    return settings


def test_tiny_run_measures_sane_numbers_and_stops_every_process(tmp_path):
    """A few sockets per server: every message reaches every member once, every socket comes
    back from the storm with its history or replay, the tables and plot render, and no
    process of the run outlives it."""
    ours = psutil.Process()
    before = {child.pid for child in ours.children(recursive=True)}
    settings = tiny_settings()
    settings.rounds = 2  # Step 4 on Daphne storms in both, each time into fresh rooms.
    progress = io.StringIO()

    results = runner.run(settings, progress_stream=progress)

    # Nothing the run started is still running: servers, redis-server, load generators. (The
    # resource tracker that multiprocessing starts once per interpreter exits with pytest.)
    left = [child for child in ours.children(recursive=True) if child.pid not in before]
    left = [child.cmdline() for child in left if child.is_running()]
    assert [line for line in left if "multiprocessing.resource_tracker" not in str(line)] == []
    assert "step4 daphne memory: burst" in progress.getvalue()

    entries = {entry["name"]: entry for entry in results["servers"]}
    assert list(entries) == [spec.name for spec in settings.servers]
    for name, entry in entries.items():
        assert entry["errors"] == [], name
        if list(entry["spec"]["only"]) == ["storm"]:
            assert entry["workloads"]["storm"]["sockets"] == settings.storm_sockets
            continue
        for clients in (2, 3) if not entry["spec"]["only"] else (2,):
            saturation = entry["workloads"][f"saturation_{clients}"]
            # Every member (the sender included) heard every message, exactly once.
            assert saturation["sent"] > 0
            assert saturation["deliveries"] == saturation["sent"] * clients
            assert saturation["duplicates"] == 0 and saturation["lost_sockets"] == 0
            assert 0 < saturation["p50_ms"] <= saturation["p99_ms"] <= saturation["max_ms"]
            assert saturation["server_cpu_seconds"] >= 0 and saturation["client_cpu_seconds"] > 0
        if entry["spec"]["only"]:
            assert set(entry["workloads"]) == {"saturation_2"}
            continue
        assert entry["workloads"]["steady"]["delivered_fraction"] == 1.0
        burst = entry["workloads"]["burst"]
        assert burst["sent"] == settings.burst_senders * settings.burst_messages
        assert burst["delivered_fraction"] == 1.0
        storm = entry["workloads"]["storm"]
        assert storm["sockets"] == settings.storm_sockets
        assert storm["storm_per_second"] > 0 and storm["rss_after_bytes"] > 0
        assert storm["incomplete_sockets"] == storm["missing_messages"] == 0
        if entry["spec"]["app"] == "step4":
            assert storm["saved"] == settings.storm_messages * 2  # two rooms
            # The room of two with a signed-in sender: its messages are a user's, all heard.
            signed_in = entry["workloads"]["signed_in"]
            assert signed_in["sent"] > 0 and signed_in["lost_sockets"] == 0
            assert signed_in["deliveries"] == signed_in["signed_in_deliveries"]
            assert signed_in["deliveries"] == signed_in["sent"] * 2
            assert entry["workloads"]["saturation_2"]["signed_in_deliveries"] == 0

    # The servers really ran the layer they are named after, and the variant its consumer.
    layers = {
        name: entry.get("details", {}).get("layer_backend") for name, entry in entries.items()
    }
    assert layers["step4 daphne memory"] == "chat.layers.FanOutInMemoryChannelLayer"
    if "step4 uvicorn uvloop x2 redis" in layers:
        assert layers["step4 uvicorn uvloop x2 redis"] == "channels_redis.core.RedisChannelLayer"

    # The outputs: a JSON document, the terminal tables, a plot, and the page's parts.
    results["machine"] = report.machine()
    json.dumps(results)
    text = report.tables(results)
    assert "floor (websockets)" in text and "Reconnect storm" in text
    png = tmp_path / "plot.png"
    report.plot(results, png)
    assert png.read_bytes().startswith(b"\x89PNG")
    results["plot"] = png.name
    generated = page.sections(results, tmp_path / "run.json")
    assert "| step4 daphne memory " in generated["saturation"]
    marked = "intro\n<!-- bench:storm -->\nold\n<!-- /bench:storm -->\nprose\n"
    assert page.fill(marked, generated) == (
        f"intro\n<!-- bench:storm -->\n{generated['storm']}\n<!-- /bench:storm -->\nprose\n"
    )


def test_a_run_stopped_with_sigterm_stops_every_process_it_started():
    """kill, timeout or a cancelled CI job send SIGTERM: the run stops its servers, their
    redis-servers and its load generators on the way out, as it does after Ctrl-C."""
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        progress = ""
        while "saturation" not in progress and bench.poll() is None:
            progress += bench.stderr.read(1)
        started = psutil.Process(bench.pid).children(recursive=True)
        assert len(started) > 5  # The servers and the load generators.
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        bench.kill()
        bench.wait()
    gone, alive = psutil.wait_procs(started, timeout=10)
    assert [process.cmdline() for process in alive if process.is_running()] == []


def test_page_refuses_a_marker_the_bench_does_not_make():
    """A generated part the page asks for but the bench lacks is an error, not a silent gap."""
    with pytest.raises(KeyError, match="nonsense"):
        page.fill("<!-- bench:nonsense -->\nx\n<!-- /bench:nonsense -->", {"run": ""})


def test_the_page_has_every_part_the_bench_makes():
    """docs/performance.md keeps a marked place for each generated table."""
    text = page.PAGE.read_text()
    names = ["run", "targets", "saturation", "steady", "burst", "storm", "signed_in", "ablation"]
    for name in [*names, "errors"]:
        assert f"<!-- bench:{name} -->" in text and f"<!-- /bench:{name} -->" in text, name


def test_make_bench_cannot_write_the_page():
    """The runner (make bench) never imports the page writer: only make bench-page does."""
    check = "import sys, bench.runner; print('bench.page' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=page.PAGE.parent.parent, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False", result.stderr


# A socket joins a room with no row yet, says hello, and a second socket joins and reads it.
VARIANT_CHAT = """
import asyncio, importlib, sys
from channels.testing import WebsocketCommunicator
module, name = sys.argv[1].split(":")
reads = sys.argv[2] == "reads"  # A variant that reads nothing on joining shows no history.
application = getattr(importlib.import_module(module), name)
HEADERS = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]

# The chat's route is served by the consumer the variant's module defines, if it defines one.
from bench.variants import chat_routes
from chat.consumers import ChatConsumer
served = [route.callback.consumer_class for _, route in chat_routes(application)[1]]
own = [value for value in vars(sys.modules[module]).values() if isinstance(value, type)
       and issubclass(value, ChatConsumer) and value.__module__ == module]
assert own in ([], served), (own, served)
# A method the shipped consumer no longer has would never be called: the row would measure
# step 4 as shipped under the variant's name.
stale = [f"{cls.__name__}.{name}" for cls in own for name, value in vars(cls).items()
         if callable(value) and not name.startswith("__") and not hasattr(ChatConsumer, name)]
assert not stale, stale

async def join(username):
    socket = WebsocketCommunicator(application, f"/ws/chat/r/?username={username}", HEADERS)
    assert (await socket.connect(timeout=5))[0]
    history = await socket.receive_json_from(timeout=5)
    assert history["type"] == "history", history
    assert (await socket.receive_json_from(timeout=5))["type"] == "user.list"
    return socket, [message["message"] for message in history["messages"]]

async def main():
    first, history = await join("u1")
    assert history == []
    await first.send_json_to({"message": "hello", "username": "u1"})
    assert (await first.receive_json_from(timeout=5))["message"] == "hello"
    second, history = await join("u2")
    assert history == (["hello"] if reads else []), history
    await first.disconnect()
    await second.disconnect()
    print("ok")

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def variant_database(tmp_path_factory):
    """A migrated step 4 database; each variant's test chats in a copy of it."""
    from bench.servers import migrated_database

    return migrated_database(tmp_path_factory.mktemp("variants"))


@pytest.mark.parametrize("spec", variants.ABLATION, ids=lambda spec: spec.name)
def test_every_ablation_variant_serves_a_chat(spec, variant_database, tmp_path):
    """Each variant starts, lets a socket join a new room and talk, and the next one read it: a
    variant that cannot is only found out as a failed row of a 20-minute run otherwise."""
    from bench.servers import STEP4, step4_environment

    database = shutil.copyfile(variant_database, tmp_path / "db.sqlite3")
    reads = "no_join_reads" not in spec.application
    result = subprocess.run(
        [sys.executable, "-c", VARIANT_CHAT, spec.application, "reads" if reads else "none"],
        cwd=STEP4,
        env=step4_environment(database, spec.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "ok", result.stderr[-3000:]


def test_a_loss_in_one_round_is_not_hidden_by_the_median():
    """Three rounds: the numbers are medians, what was lost is the worst round's, and the
    memory a socket takes the first round's."""
    rounds = [
        {
            "storm_per_second": rate,
            "missing_messages": missing,
            "delivered_fraction": fraction,
            "bytes_per_socket": memory,
        }
        for rate, missing, fraction, memory in [
            (300, 0, 1.0, 40_000),
            (500, 4, 0.98, 0),
            (400, 0, 1.0, 0),
        ]
    ]
    summary = runner.summarize(rounds)
    assert summary == {
        "storm_per_second": 400,
        "missing_messages": 4,
        "delivered_fraction": 0.98,
        "bytes_per_socket": 40_000,  # Later rounds reuse the memory the first one took.
        "rounds": 3,
    }


def test_the_storm_is_measured_every_round_where_its_target_compares():
    """The four servers of the storm's target storm in every round; the others in the first."""
    settings = runner.full_settings()
    for spec in settings.servers:
        later = "storm" in runner.steps_of(settings, spec, 1)
        assert later == (spec in runner.PAIRS), spec.name
        assert ("storm" in runner.steps_of(settings, spec, 0)) == (
            not spec.only or "storm" in spec.only
        )
