"""What a room filling up costs: frames sent and server CPU, for rooms of 100, 200 and 400.

Not a test: run it by hand, from step4_production/, and it prints one table line per room size:

    ../.venv/bin/python -m tests.measure_presence --sizes 100 200 400 [--layer memory]
    ../.venv/bin/python -m tests.measure_presence --churn 2000 --layer memory

With --layer redis (the default) it starts a redis-server and two Daphne servers sharing it, and
every other newcomer joins through the second server; --layer memory runs one Daphne alone.
Each newcomer waits for its history before the next one connects; once every socket is open the
script waits for the frames to stop, then counts every frame the sockets received and the CPU
time the servers used.

With --churn N, ten members stay in a room while N guests come and go one after the other, in
three rounds; it prints the cycles per second of each round (a cost that grows with churn shows
as rounds getting slower).
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import websockets

from tests.servers import STEP_DIR, DaphneServer, RedisServer

QUIET = 2.0  # Seconds without a frame after which a room has settled.


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counter:
    def __init__(self):
        self.frames = 0
        self.last = time.monotonic()


async def member(server, room, number, counter, ready):
    query = urlencode({"username": f"user-{number}"})
    socket = await websockets.connect(
        server.ws_url(f"/ws/chat/{room}/?{query}"),
        additional_headers=server.origin,
        max_size=None,
        open_timeout=60,
    )
    first = True
    try:
        async for _ in socket:
            counter.frames += 1
            counter.last = time.monotonic()
            if first:
                first = False
                ready.set()
    except websockets.ConnectionClosed:
        pass


async def fill_room(servers, size):
    """Open `size` sockets in a new room one after the other; (frames, seconds to settle)."""
    room = f"room-{size}-{time.time_ns()}"
    counter = Counter()
    tasks = []
    for number in range(size):
        ready = asyncio.Event()
        server = servers[number % len(servers)]
        tasks.append(asyncio.create_task(member(server, room, number, counter, ready)))
        await asyncio.wait_for(ready.wait(), 60)
    while time.monotonic() - counter.last < QUIET:
        await asyncio.sleep(0.1)
    frames = counter.frames
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return frames


async def churn(servers, cycles, rounds=3, staying=10):
    """Cycles per second of each round of guests connecting, reading the history, closing."""
    room = f"churn-{time.time_ns()}"
    counter = Counter()
    members = []
    for number in range(staying):
        ready = asyncio.Event()
        members.append(asyncio.create_task(member(servers[0], room, number, counter, ready)))
        await asyncio.wait_for(ready.wait(), 60)
    rates = []
    for _ in range(rounds):
        start = time.monotonic()
        for number in range(cycles // rounds):
            server = servers[number % len(servers)]
            async with websockets.connect(
                server.ws_url(f"/ws/chat/{room}/?username=guest"),
                additional_headers=server.origin,
                open_timeout=60,
            ) as socket:
                await socket.recv()
        rates.append((cycles // rounds) / (time.monotonic() - start))
    for task in members:
        task.cancel()
    await asyncio.gather(*members, return_exceptions=True)
    return rates


def migrated_database(directory):
    database = Path(directory) / "measure.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.live_settings"}
    env["CHAT_TEST_DATABASE"] = str(database)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=STEP_DIR,
        env=env,
        check=True,
    )
    return database


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--layer", choices=["redis", "memory"], default="redis")
    parser.add_argument("--churn", type=int, metavar="CYCLES", help="measure churn instead")
    arguments = parser.parse_args()
    env = {"CHAT_RATE_LIMIT": "0", "CHAT_MAX_SOCKETS_PER_ADDRESS": "0"}
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        database = migrated_database(directory)
        count = 1
        if arguments.layer == "redis":
            redis = stack.enter_context(RedisServer())
            env.update(CHANNEL_LAYER="redis", REDIS_URL=redis.url)
            count = 2
        servers = [stack.enter_context(DaphneServer(database, env=env)) for _ in range(count)]
        print(f"layer {arguments.layer}, {count} server(s)")
        if arguments.churn:
            rates = asyncio.run(churn(servers, arguments.churn))
            print("cycles per second, round by round:", ", ".join(f"{r:.0f}" for r in rates))
            return
        print("| room | frames | server CPU (s) |")
        print("| ---: | ---: | ---: |")
        for size in arguments.sizes:
            before = sum(cpu_seconds(server.process.pid) for server in servers)
            frames = asyncio.run(fill_room(servers, size))
            used = sum(cpu_seconds(server.process.pid) for server in servers) - before
            print(f"| {size} | {frames:,} | {used:.1f} |", flush=True)


if __name__ == "__main__":
    main()
