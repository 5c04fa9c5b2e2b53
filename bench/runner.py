"""The runner: every server in turn, the same workloads against each, everything stopped after.

    python -m bench            # quick run (make bench)
    python -m bench --full     # the run docs/performance.md shows (make bench-full)

Each workload is bounded in count and time; a workload that fails is recorded with the
server's last log lines and the run goes on with the next one.
"""

import argparse
import multiprocessing
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from statistics import median, quantiles

from bench import loadgen, report, variants
from bench.servers import Server, ServerSpec, migrated_database

FLOOR = ServerSpec("floor", "websockets")
TUTORIAL_DAPHNE = ServerSpec("tutorial", "daphne", "memory")
TUTORIAL_UVICORN = ServerSpec("tutorial", "uvicorn", "memory")
STEP4_DAPHNE = ServerSpec("step4", "daphne", "memory")
STEP4_UVICORN = ServerSpec("step4", "uvicorn", "memory")
# Each tutorial next to the step 4 it is compared with: measured a minute apart, not five, on
# a machine whose speed changes.
PAIRS = [TUTORIAL_DAPHNE, STEP4_DAPHNE, TUTORIAL_UVICORN, STEP4_UVICORN]
# The production candidates: two uvicorn processes on one port, sharing one Redis.
PRODUCTION = [
    ServerSpec("step4", "uvicorn", layer, workers=2, fast=fast)
    for layer in ("redis", "redis-pubsub")
    for fast in (False, True)
]


@dataclass
class Settings:
    """How big and how long each workload is."""

    mode: str
    servers: list
    saturation_clients: tuple = (2, 10, 50, 200)
    saturation_seconds: float = 2.0
    saturation_window: int = 20
    saturation_max_messages: int = 20_000
    steady_clients: int = 200
    steady_rate: float = 20.0
    steady_seconds: float = 10.0
    burst_clients: int = 50
    burst_senders: int = 10
    burst_messages: int = 50
    storm_sockets: int = 1000
    storm_room_size: int = 10
    storm_messages: int = 5  # in each room before the storm: its history
    storm_after: int = 2  # what every second socket has seen already: it asks for the rest
    storm_concurrency: int = 200  # handshakes in flight per load-generator process
    processes: int = 2
    rounds: int = 1
    budget_seconds: float = 600.0


def quick_settings():
    return Settings(
        mode="quick",
        servers=[FLOOR, *PAIRS, PRODUCTION[3]],
        # 1.5 s of a room of two is a few thousand messages: its ratio moved by 20%.
        saturation_seconds=3.0,
        steady_seconds=5.0,
        # One round put a room of two at 1.13x on Daphne, and 0.90x in the next run: the
        # targets are judged on medians of three, as in the full run.
        rounds=3,
        budget_seconds=1500.0,
    )


def full_settings():
    return Settings(
        mode="full",
        servers=[FLOOR, *PAIRS, *PRODUCTION, *variants.ABLATION],
        saturation_seconds=3.0,
        # Three rounds, each number the median of its three: one round moves by 10% here.
        rounds=3,
        budget_seconds=3000.0,
    )


def tiny_settings():
    """For the test of the machinery: the floor and step 4, a handful of clients."""
    return Settings(
        mode="tiny",
        servers=[FLOOR, STEP4_DAPHNE],
        saturation_clients=(2, 3),
        saturation_seconds=0.5,
        saturation_max_messages=30,
        steady_clients=3,
        steady_rate=10.0,
        steady_seconds=0.5,
        burst_clients=3,
        burst_senders=2,
        burst_messages=5,
        storm_sockets=10,
        storm_room_size=5,
        storm_messages=3,
        storm_after=1,
        budget_seconds=120.0,
    )


class LoadGeneratorGone(RuntimeError):
    """A load-generator process died: nothing after this could be measured."""


class LoadGenerator:
    """`processes` load-generator processes, each a loadgen.Worker behind a pipe."""

    def __init__(self, processes):
        context = multiprocessing.get_context("spawn")
        self.pipes, self.processes = [], []
        for _ in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=loadgen.worker_main, args=(child,), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    @property
    def size(self):
        return len(self.pipes)

    def alive(self):
        return all(process.is_alive() for process in self.processes)

    def call(self, calls, timeout=120):
        """Send {worker: (command, arguments)} to the workers at once; their answers, in order."""
        if not self.alive():
            raise LoadGeneratorGone("a load-generator process has exited")
        for index, (command, arguments) in calls.items():
            self.pipes[index].send((command, arguments))
        deadline = time.monotonic() + timeout
        answers = {}
        for index in calls:
            if not self.pipes[index].poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"load generator {index} did not answer {calls[index][0]}")
            answers[index] = self.pipes[index].recv()
        # Read every answer before raising, so that the next call reads its own.
        for index, answer in answers.items():
            if "error" in answer:
                raise RuntimeError(f"load generator {index}: {answer['error']}")
        return answers

    def all(self, command, timeout=120, **arguments):
        calls = {index: (command, arguments) for index in range(self.size)}
        return list(self.call(calls, timeout).values())

    def stop(self):
        for pipe in self.pipes:
            try:
                pipe.send(("exit", {}))
            except OSError:
                pass
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        for pipe in self.pipes:
            pipe.close()


def spread(count, parts):
    """`count` things over `parts` workers, as evenly as possible."""
    return [count // parts + (i < count % parts) for i in range(parts)]


def percentiles(values):
    """p50, p99 and the maximum of a list of numbers (None for each when it is empty)."""
    if len(values) < 2:
        return (values[0],) * 3 if values else (None,) * 3
    cuts = quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98], max(values)


def per(seconds, count):
    """Microseconds per thing."""
    return seconds * 1e6 / count if count else None


FAN_OUT_ROOM = "fanout"
SIGNED_IN_SENDER = 9_000


class Workloads:
    """The workloads against one running server."""

    def __init__(self, server, load, settings, round_number=0):
        self.server = server
        self.load = load
        self.settings = settings
        # Each round's storm in rooms of its own, named as the tutorial's route allows (\w+).
        self.round_number = round_number
        self.target = {"host": "127.0.0.1", "port": server.port, "origin": server.origin}

    def connect(self, room, receivers, senders=(), cookie=None):
        """`receivers` sockets in `room`, then the senders (ids), who join last, signed in with
        the Cookie header `cookie` if there is one.

        Fails when the server closed any socket while the room was joining.
        """
        calls = {}
        for index, count in enumerate(spread(receivers, self.load.size)):
            if count:
                calls[index] = ("connect", {**self.target, "rooms": [(room, count)]})
        self.expect_opened(self.load.call(calls, timeout=180), receivers)
        calls = {}
        for number, sender in enumerate(senders):
            arguments = {**self.target, "rooms": [], "cookie": cookie}
            calls.setdefault(number % self.load.size, ("connect", arguments))
            calls[number % self.load.size][1].setdefault("senders", []).append((room, sender))
        self.expect_opened(self.load.call(calls, timeout=60), len(senders))
        self.settle()
        lost = sum(answer["lost_sockets"] for answer in self.load.all("status"))
        if lost:
            raise RuntimeError(f"the server closed {lost} sockets while {room} was joining")

    def connect_rooms(self, rooms, **options):
        """Every room [(name, size)] whole in one load-generator process; their answers."""
        calls = {}
        for index in range(self.load.size):
            if mine := rooms[index :: self.load.size]:
                calls[index] = ("connect", {**self.target, "rooms": mine, **options})
        answers = list(self.load.call(calls, timeout=300).values())
        self.expect_opened(dict(enumerate(answers)), sum(size for _, size in rooms))
        return answers

    def expect_opened(self, answers, wanted):
        opened = sum(answer["opened"] for answer in answers.values())
        if opened < wanted:
            errors = [error for answer in answers.values() for error in answer["errors"]]
            raise RuntimeError(f"only {opened} of {wanted} sockets opened: {errors[:3]}")

    def settle(self):
        """Let the join traffic (history, presence) finish before measuring anything."""
        self.load.all("quiet", timeout=60, seconds=0.3, limit=30)
        self.server.wait_idle()

    def close(self):
        self.load.all("close", timeout=60)
        self.server.wait_idle()

    def measure(self, send_calls, clients, drain_idle, drain_deadline):
        """Reset the counters, run the senders, wait for the deliveries; the numbers."""
        self.load.all("reset")
        cpu_before = self.server.cpu()
        wall_before = time.monotonic()
        sent = self.load.call(send_calls, timeout=120)
        total_sent = sum(answer["sent"] for answer in sent.values())
        first_send = min(answer["first_send"] for answer in sent.values())
        drained = self.load.all(
            "drain",
            timeout=drain_deadline + 30,
            expected=total_sent,
            idle=drain_idle,
            deadline=drain_deadline,
        )
        server_cpu = self.server.cpu() - cpu_before
        wall = time.monotonic() - wall_before
        latencies = [
            value / 1e6 for answer in drained for value in loadgen.latencies(answer["latencies"])
        ]
        p50, p99, most = percentiles(latencies)
        received = sum(answer["received"] for answer in drained)
        errors = sum(answer["errors"] for answer in drained)
        last_receive = max(answer["last_receive"] for answer in drained)
        window = (last_receive - first_send) / 1e9 if last_receive else None
        client_cpu = sum(answer["cpu"] for answer in drained)
        expected = (total_sent - errors) * clients
        return {
            "clients": clients,
            "sent": total_sent,
            "errors": errors,
            "deliveries": received,
            "expected_deliveries": expected,
            "delivered_fraction": received / expected if expected else None,
            "complete_clients": sum(answer["complete"] for answer in drained),
            "duplicates": sum(answer["duplicates"] for answer in drained),
            "signed_in_deliveries": sum(answer["signed"] for answer in drained),
            "lost_sockets": sum(answer["lost_sockets"] for answer in drained),
            "seconds": window,
            "deliveries_per_second": received / window if window else None,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": most,
            "server_cpu_seconds": server_cpu,
            "client_cpu_seconds": client_cpu,
            "server_cpu_us_per_delivery": per(server_cpu, received),
            "client_cpu_us_per_delivery": per(client_cpu, received),
            "server_cpu_share": server_cpu / wall if wall else None,
            "client_cpu_share": client_cpu / wall if wall else None,
        }

    def saturation(self, clients, members):
        """Grow the fan-out room from `members` to `clients` sockets, then saturate it.

        The room grows between measurements (2, 10, 50, then 200) instead of being built
        again. Each size gets a new sender, who joins last; the earlier senders stay on as
        receivers.
        """
        self.connect(FAN_OUT_ROOM, clients - members - 1, senders=[clients])
        return self.saturate(clients, sender=clients)

    def saturate(self, clients, sender):
        """The sender keeps saturation_window messages in flight for saturation_seconds."""
        settings = self.settings
        arguments = {
            "duration": settings.saturation_seconds,
            "window": settings.saturation_window,
            "max_messages": settings.saturation_max_messages,
            "sender": sender,
        }
        return self.measure(
            {0: ("send_window", arguments)}, clients, drain_idle=2, drain_deadline=30
        )

    def signed_in(self):
        """A room of two whose sender is signed in, as a support agent is: each of its messages
        has its session read again before it is saved. Saturated like saturation_2."""
        self.connect("pair", 1, senders=[SIGNED_IN_SENDER], cookie=self.server.cookie)
        return self.saturate(2, sender=SIGNED_IN_SENDER)

    def steady(self, members):
        """A fixed rate into the fan-out room, when it has steady_clients sockets already."""
        settings = self.settings
        clients = sender = settings.steady_clients
        if members != clients:
            self.close()
            self.connect(FAN_OUT_ROOM, clients - 1, senders=[clients])
        arguments = {"rate": settings.steady_rate, "duration": settings.steady_seconds}
        return self.measure(
            {0: ("send_rate", {**arguments, "sender": sender})},
            clients,
            drain_idle=2,
            drain_deadline=30,
        )

    def burst(self):
        settings = self.settings
        senders = list(range(settings.burst_senders))
        self.connect("burst", settings.burst_clients - len(senders), senders=senders)
        send = {
            index: ("send_burst", {"count": settings.burst_messages})
            for index in range(min(self.load.size, len(senders)))
        }
        return self.measure(send, settings.burst_clients, drain_idle=3, drain_deadline=60)

    def storm(self):
        """1,000 sockets in rooms of 10 join (memory per socket), chat, leave, and all come
        back at once: how fast every one of them is back with its history or its replay."""
        settings = self.settings
        self.connect("warmup", 10)  # The first sockets load code and fill caches.
        self.close()
        rooms = [
            (f"storm{self.round_number}_{number}", settings.storm_room_size)
            for number in range(settings.storm_sockets // settings.storm_room_size)
        ]
        sockets = sum(size for _, size in rooms)
        before = self.server.memory()
        answers = self.connect_rooms(rooms)
        join_seconds = max(a["last_open"] for a in answers) - min(a["started"] for a in answers)
        self.settle()
        after = self.server.memory()
        sent = self.load.all("send_each_room", count=settings.storm_messages)
        self.load.all("drain", expected=settings.storm_messages, idle=2, deadline=30)
        self.close()
        cpu_before = self.server.cpu()
        answers = self.connect_rooms(
            rooms, concurrency=settings.storm_concurrency, after=settings.storm_after
        )
        started = min(answer["started"] for answer in answers)
        back = max(answer["last_open"] for answer in answers)
        histories = self.server.spec.app == "step4"
        missing = incomplete = 0
        if histories:
            answers = self.load.all("histories", seconds=60, timeout=90)
            back = max(answer["last_at"] for answer in answers)
            everything = range(1, settings.storm_messages + 1)
            for asked, sequences in (item for a in answers for item in a["sockets"]):
                wanted = set(everything[asked or 0 :])
                missing += len(wanted - set(sequences or ()))
                incomplete += sequences is None or sorted(sequences) != sorted(wanted)
        storm_seconds = (back - started) / 1e9
        self.settle()
        cpu = self.server.cpu() - cpu_before
        self.close()
        return {
            "sockets": sockets,
            "room_size": settings.storm_room_size,
            "saved": sum(answer["sent"] for answer in sent) if histories else 0,
            "rss_before_bytes": before,
            "rss_after_bytes": after,
            "bytes_per_socket": (after - before) / sockets,
            "join_per_second": sockets / (join_seconds / 1e9),
            "storm_seconds": storm_seconds,
            "storm_per_second": sockets / storm_seconds,
            "storm_cpu_us_per_socket": per(cpu, sockets),
            "missing_messages": missing,
            "incomplete_sockets": incomplete,
        }


# The run


class Progress:
    """One line that says where the run is: rewritten in place on a terminal."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.start, self.tty = time.monotonic(), stream.isatty()

    def show(self, server, step):
        elapsed = time.monotonic() - self.start
        text = f"[{self.done}/{self.total} steps, {elapsed:3.0f} s] {server}: {step}"
        self.stream.write("\r\033[K" + text[:120] if self.tty else text + "\n")
        self.stream.flush()

    def finish(self):
        self.stream.write("\n" if self.tty else "")
        self.stream.flush()


def steps_of(settings, spec, number=0):
    """What round `number` measures on a server, in order: "storm", "saturation_2", ...

    The storm is measured in every round on the servers its target compares (PAIRS), in the
    first round only on the others.
    """
    steps = ["storm"] if number == 0 or spec in PAIRS else []
    steps += [f"saturation_{clients}" for clients in sorted(settings.saturation_clients)]
    steps += ["steady", "burst"] + (["signed_in"] if spec.app == "step4" else [])
    return [step for step in steps if not spec.only or step in spec.only]


def run(settings, progress_stream=sys.stderr):
    """Every workload against every server; the results as one dict (see report.py).

    All servers start first, each on its own port (and with its own redis-server). Then each
    round runs every server's workloads in turn, a different server first each round, so that
    servers compared with each other were measured minutes apart, not a whole run apart, on a
    machine whose load changes.
    """
    started = time.time()
    total = sum(
        len(steps_of(settings, spec, number))
        for spec in settings.servers
        for number in range(settings.rounds)
    )
    progress = Progress(total, progress_stream)
    deadline = time.monotonic() + settings.budget_seconds
    entries = [
        {"spec": asdict(spec), "name": spec.name, "workloads": {}, "rounds": {}, "errors": []}
        for spec in settings.servers
    ]
    pairs = list(zip(settings.servers, entries, strict=True))
    servers = {}
    load = LoadGenerator(settings.processes)
    try:
        with tempfile.TemporaryDirectory(prefix="chat-bench-") as workdir:
            progress.show("step4", "migrating a fresh database")
            template = migrated_database(workdir)
            for spec, entry in pairs:
                progress.show(spec.name, "starting")
                server = Server(spec, workdir, template)
                try:
                    servers[spec.name] = server.start()
                    entry["details"] = dict(server.details)
                except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
                    entry["errors"].append(f"start: {error}\n{server.output_tail()}")
                    server.stop()
            try:
                for number in range(settings.rounds):
                    shift = number % len(entries)
                    for spec, entry in pairs[shift:] + pairs[:shift]:
                        steps = steps_of(settings, spec, number)
                        server = servers.get(entry["name"])
                        run_round(entry, steps, server, load, settings, progress, deadline, number)
            finally:
                for server in servers.values():
                    server.stop()
    finally:
        load.stop()
        progress.finish()
    for entry in entries:
        entry["workloads"] = {key: summarize(rounds) for key, rounds in entry["rounds"].items()}
    return {
        "mode": settings.mode,
        "settings": {**asdict(settings), "servers": [spec.name for spec in settings.servers]},
        "servers": entries,
        "started": started,
        "seconds": time.time() - started,
    }


def run_round(entry, steps, server, load, settings, progress, deadline, number=0):
    """One round of a server's measurements, the fan-out room growing from one to the next."""
    members = 0
    for key in steps:
        progress.show(entry["name"], key.replace("_", " C="))
        progress.done += 1
        if server is None:
            continue
        if time.monotonic() > deadline:
            entry["errors"].append(f"{key}: skipped, the run's time budget was spent")
            continue
        if not server.alive():
            entry["errors"].append(f"{key}: the server is gone\n{server.output_tail()}")
            continue
        workloads = Workloads(server, load, settings, number)
        try:
            if key.startswith("saturation_"):
                clients = int(key.split("_")[1])
                result = workloads.saturation(clients, members)
                members = clients
            elif key == "steady":
                result = workloads.steady(members)
                members = settings.steady_clients
            else:
                if members:
                    workloads.close()
                    members = 0
                result = getattr(workloads, key)()
                if key in ("burst", "signed_in"):
                    workloads.close()
        except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
            if not load.alive():
                raise LoadGeneratorGone("a load-generator process has exited") from error
            entry["errors"].append(f"{key}: {type(error).__name__}: {error}")
            members = 0
            try:
                workloads.close()
            except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
                entry["errors"].append(f"closing: {error}")
            continue
        entry["rounds"].setdefault(key, []).append(result)
    if members and server is not None and server.alive():
        Workloads(server, load, settings).close()


# What memory a socket takes is the first round's: later rounds reuse what it allocated.
FIRST = ("rss_before_bytes", "rss_after_bytes", "bytes_per_socket")
# What went wrong is the worst round's, so that a loss in one round is not a median's to hide.
WORST = dict.fromkeys(["missing_messages", "incomplete_sockets", "duplicates", "lost_sockets"], max)
WORST["delivered_fraction"] = min


def summarize(rounds):
    """The median of each number over the rounds (the one round when there is one); the worst
    of the losses (WORST), the first round's memory (FIRST)."""
    summary = {}
    for name in rounds[0]:
        values = [result[name] for result in rounds if result.get(name) is not None]
        summary[name] = WORST.get(name, median)(values) if values else None
        if name in FIRST:
            summary[name] = rounds[0][name]
    summary["rounds"] = len(rounds)
    return summary


def stop_on_sigterm(number, frame):
    """SIGTERM (kill, timeout, a CI job cancelled) ends the run as Ctrl-C does: through every
    finally block, so that each server, redis-server and load generator is stopped."""
    raise SystemExit(128 + number)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the run docs/performance.md shows")
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    settings = full_settings() if arguments.full else quick_settings()
    results = run(settings)
    results["machine"] = report.machine()
    paths = report.write(results)
    print(report.tables(results))
    for path in paths:
        print(f"wrote {path}")
    return 0
