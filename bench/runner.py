"""The runner: every server in turn, the same workloads against each, everything stopped after.

    python -m bench            # quick run (make bench)
    python -m bench --full     # the run that goes into docs/performance.md (make bench-full)

Each workload is bounded in count and time; a workload that fails is recorded with the
server's last log lines and the run goes on with the next one.
"""

import argparse
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass, field
from statistics import median

from bench import loadgen
from bench.servers import Server, ServerSpec, migrated_database, temporary_workdir

FLOOR = ServerSpec("floor", "websockets")
TUTORIAL_DAPHNE = ServerSpec("tutorial", "daphne", "memory")
TUTORIAL_UVICORN = ServerSpec("tutorial", "uvicorn", "memory")
STEP4_SERVERS = [
    ServerSpec("step4", server, layer)
    for server in ("daphne", "uvicorn")
    for layer in ("memory", "redis", "redis-pubsub")
]


@dataclass
class Settings:
    """How big and how long each workload is."""

    mode: str
    servers: list
    saturation_clients: tuple = (10, 50, 200)
    saturation_seconds: float = 2.0
    saturation_window: int = 20
    saturation_max_messages: int = 20_000
    steady_clients: int = 200
    steady_rate: float = 20.0
    steady_seconds: float = 10.0
    burst_clients: int = 50
    burst_senders: int = 10
    burst_messages: int = 50
    idle_sockets: int = 1000
    idle_room_size: int = 10
    processes: int = 2
    rounds: int = 1
    budget_seconds: float = 600.0
    workloads: tuple = ("idle", "saturation", "steady", "burst")
    extra: dict = field(default_factory=dict)


def quick_settings():
    return Settings(
        mode="quick",
        servers=[FLOOR, TUTORIAL_DAPHNE, *STEP4_SERVERS[:3], STEP4_SERVERS[3]],
        saturation_seconds=1.5,
        steady_seconds=5.0,
        budget_seconds=225.0,
    )


def full_settings():
    return Settings(
        mode="full",
        servers=[FLOOR, TUTORIAL_DAPHNE, TUTORIAL_UVICORN, *STEP4_SERVERS],
        saturation_seconds=4.0,
        steady_seconds=10.0,
        rounds=3,
        budget_seconds=2400.0,
    )


def tiny_settings():
    """For the test of the machinery: the floor and step 4, a handful of clients."""
    return Settings(
        mode="tiny",
        servers=[FLOOR, ServerSpec("step4", "daphne", "memory")],
        saturation_clients=(3,),
        saturation_seconds=0.5,
        saturation_max_messages=30,
        steady_clients=3,
        steady_rate=10.0,
        steady_seconds=0.5,
        burst_clients=3,
        burst_senders=2,
        burst_messages=5,
        idle_sockets=10,
        idle_room_size=5,
        processes=2,
        budget_seconds=120.0,
    )


# The load generator's processes


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
            if "error" in answers[index]:
                raise RuntimeError(f"load generator {index}: {answers[index]['error']}")
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
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        for pipe in self.pipes:
            pipe.close()


def spread(count, parts):
    """`count` things over `parts` workers, as evenly as possible."""
    return [count // parts + (i < count % parts) for i in range(parts)]


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


# Workloads


FAN_OUT_ROOM = "fanout"


class Workloads:
    """The four workloads against one running server."""

    def __init__(self, server, load, settings):
        self.server = server
        self.load = load
        self.settings = settings
        self.target = {"host": "127.0.0.1", "port": server.port, "origin": server.origin}

    def connect(self, room, receivers, senders=()):
        """`receivers` sockets in `room`, then the senders (ids), who join last.

        Fails when the server closed any socket while the room was joining.
        """
        calls = {}
        for index, count in enumerate(spread(receivers, self.load.size)):
            if count:
                calls[index] = ("connect", {**self.target, "rooms": [(room, count)]})
        opened = self.expect_opened(self.load.call(calls, timeout=180), receivers)
        if senders:
            calls = {}
            for number, sender in enumerate(senders):
                index = number % self.load.size
                calls.setdefault(index, ("connect", {**self.target, "rooms": [], "senders": []}))
                calls[index][1]["senders"].append((room, sender))
            opened += self.expect_opened(self.load.call(calls, timeout=60), len(senders))
        self.settle()
        lost = sum(answer["lost_sockets"] for answer in self.load.all("status"))
        if lost:
            raise RuntimeError(
                f"the server closed {lost} sockets while {room} was joining "
                f"(server log: {self.server.log_summary()})"
            )
        return opened

    def expect_opened(self, answers, wanted):
        opened = sum(answer["opened"] for answer in answers.values())
        if opened < wanted:
            errors = [error for answer in answers.values() for error in answer["errors"]]
            raise RuntimeError(f"only {opened} of {wanted} sockets opened: {errors[:3]}")
        return opened

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
        cpu_after = self.server.cpu()
        wall = time.monotonic() - wall_before
        latencies = sorted(
            value / 1e6 for answer in drained for value in _latencies(answer["latencies"])
        )
        received = sum(answer["received"] for answer in drained)
        errors = sum(answer["errors"] for answer in drained)
        last_receive = max(answer["last_receive"] for answer in drained)
        window = (last_receive - first_send) / 1e9 if last_receive else None
        server_cpu = cpu_after[0] - cpu_before[0]
        redis_cpu = cpu_after[1] - cpu_before[1]
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
            "lost_sockets": sum(answer["lost_sockets"] for answer in drained),
            "seconds": window,
            "wall_seconds": wall,
            "deliveries_per_second": received / window if window else None,
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": latencies[-1] if latencies else None,
            "server_cpu_seconds": server_cpu,
            "redis_cpu_seconds": redis_cpu,
            "client_cpu_seconds": client_cpu,
            "server_cpu_us_per_delivery": _per(server_cpu + redis_cpu, received),
            "client_cpu_us_per_delivery": _per(client_cpu, received),
            "server_cpu_share": (server_cpu + redis_cpu) / wall if wall else None,
            "client_cpu_share": client_cpu / wall if wall else None,
            "server_rss_bytes": self.server.memory(),
        }

    def saturation(self, clients, members=0):
        """Grow the fan-out room from `members` to `clients` sockets, then saturate it.

        The room grows between measurements (10, then 50, then 200) instead of being built
        again: step 4's presence makes every join cost O(room) frames. Each size gets a new
        sender, who joins last; the earlier senders stay on as receivers.
        """
        settings = self.settings
        self.connect(FAN_OUT_ROOM, clients - members - 1, senders=[clients])
        arguments = {
            "duration": settings.saturation_seconds,
            "window": settings.saturation_window,
            "max_messages": settings.saturation_max_messages,
            "sender": clients,
        }
        return self.measure(
            {0: ("send_window", arguments)}, clients, drain_idle=2, drain_deadline=30
        )

    def steady(self, members=0):
        """A fixed rate into the fan-out room, when it has steady_clients sockets already."""
        settings = self.settings
        clients = settings.steady_clients
        sender = members
        if members != clients:
            self.close()
            self.connect(FAN_OUT_ROOM, clients - 1, senders=[clients])
            sender = clients
        arguments = {
            "rate": settings.steady_rate,
            "duration": settings.steady_seconds,
            "sender": sender,
        }
        result = self.measure(
            {0: ("send_rate", arguments)}, clients, drain_idle=2, drain_deadline=30
        )
        result["rate"] = settings.steady_rate
        return result

    def burst(self):
        settings = self.settings
        senders = list(range(settings.burst_senders))
        self.connect("burst", settings.burst_clients - len(senders), senders=senders)
        try:
            send = {
                index: ("send_burst", {"count": settings.burst_messages})
                for index in range(min(self.load.size, len(senders)))
            }
            result = self.measure(send, settings.burst_clients, drain_idle=3, drain_deadline=60)
            result["drain_seconds"] = result["seconds"]
            return result
        finally:
            self.close()

    def idle(self):
        """Server memory per socket, 1,000 idle sockets spread over rooms."""
        settings = self.settings
        # Warm up: the first sockets load code and fill caches that later ones reuse.
        self.connect("warmup", 10)
        self.close()
        before = self.server.memory()
        rooms = [
            (f"idle{number}", settings.idle_room_size)
            for number in range(settings.idle_sockets // settings.idle_room_size)
        ]
        calls = {}
        for index in range(self.load.size):
            mine = rooms[index :: self.load.size]
            if mine:
                calls[index] = ("connect", {**self.target, "rooms": mine})
        wanted = sum(count for _, count in rooms)
        started = time.monotonic()
        opened = self.expect_opened(self.load.call(calls, timeout=300), wanted)
        connect_seconds = time.monotonic() - started
        try:
            self.settle()
            time.sleep(0.5)
            after = self.server.memory()
            return {
                "sockets": opened,
                "room_size": settings.idle_room_size,
                "rss_before_bytes": before,
                "rss_after_bytes": after,
                "bytes_per_socket": (after - before) / opened,
                "connect_seconds": connect_seconds,
                "connects_per_second": opened / connect_seconds,
            }
        finally:
            self.close()


def _latencies(data):
    values = loadgen.array("q")
    values.frombytes(data)
    return values


def _per(seconds, count):
    return seconds * 1e6 / count if count else None


# The run


class Progress:
    """One line that says where the run is: rewritten in place on a terminal."""

    def __init__(self, total, stream=sys.stderr):
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.stream = stream
        self.tty = stream.isatty()

    def show(self, server, step):
        elapsed = time.monotonic() - self.start
        text = f"[{self.done}/{self.total} steps, {elapsed:3.0f} s] {server}: {step}"
        if self.tty:
            self.stream.write("\r\033[K" + text[:120])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self):
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


def steps_of(settings):
    """The measured steps after idle memory, in order: ("saturation", 10), ("steady", None)..."""
    steps = []
    for workload in settings.workloads:
        if workload == "saturation":
            steps += [("saturation", clients) for clients in sorted(settings.saturation_clients)]
        elif workload != "idle":
            steps.append((workload, None))
    return steps


def step_key(workload, clients):
    return workload if clients is None else f"{workload}_{clients}"


def run(settings, progress_stream=sys.stderr):
    """Every workload against every server; the results as one dict (see report.py).

    All servers start first, each on its own port (and with its own redis-server). Idle memory
    is measured on each while it is fresh; then each workload runs against every server in
    turn, `rounds` times, so that servers compared with each other were measured minutes
    apart, not a whole run apart, on a machine whose load changes.
    """
    started = time.time()
    steps = steps_of(settings)
    idle = "idle" in settings.workloads
    total = len(settings.servers) * (idle + settings.rounds * len(steps))
    progress = Progress(total, progress_stream)
    deadline = time.monotonic() + settings.budget_seconds
    entries = [
        {"spec": asdict(spec), "name": spec.name, "workloads": {}, "rounds": {}, "errors": []}
        for spec in settings.servers
    ]
    results = {"mode": settings.mode, "settings": _settings_dict(settings), "servers": entries}
    servers = {}
    load = LoadGenerator(settings.processes)
    try:
        with temporary_workdir() as workdir:
            template = None
            if any(spec.app == "step4" for spec in settings.servers):
                progress.show("step4", "migrating a fresh database")
                template = migrated_database(workdir)
            for spec, entry in zip(settings.servers, entries, strict=True):
                progress.show(spec.name, "starting")
                server = Server(spec, workdir, template)
                try:
                    server.start()
                except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
                    entry["errors"].append(f"start: {error}\n{server.output_tail()}")
                    server.stop()
                    continue
                servers[spec.name] = server
                entry["details"] = dict(server.details)
                entry["rss_start_bytes"] = server.memory()
            try:
                if idle:
                    for entry in entries:
                        record(entry, "idle", progress, deadline, servers, load, settings)
                for round_number in range(settings.rounds):
                    # A different server goes first in each round.
                    shift = round_number % len(entries)
                    for entry in entries[shift:] + entries[:shift]:
                        run_round(entry, progress, deadline, servers, load, settings)
                for entry in entries:
                    server = servers.get(entry["name"])
                    if server is not None and server.alive():
                        entry["rss_end_bytes"] = server.memory()
                        entry["cpu_seconds_total"] = sum(server.cpu())
            finally:
                for server in servers.values():
                    server.stop()
    finally:
        load.stop()
        progress.finish()
    for entry in entries:
        for key, rounds in entry["rounds"].items():
            entry["workloads"][key] = summarize(rounds)
    results["seconds"] = time.time() - started
    results["started"] = started
    return results


def run_round(entry, progress, deadline, servers, load, settings):
    """One round of the measured workloads against one server, in the order of steps_of()."""
    members = 0
    failed = None
    for workload, clients in steps_of(settings):
        key = step_key(workload, clients)
        if failed and workload in ("saturation", "steady"):
            # The fan-out room is broken: its later sizes cannot be measured this round.
            progress.done += 1
            entry["errors"].append(f"{key}: skipped, {failed} failed in the same room")
            continue
        if workload == "saturation":
            ok = record(
                entry,
                key,
                progress,
                deadline,
                servers,
                load,
                settings,
                lambda workloads, c=clients, m=members: workloads.saturation(c, m),
            )
            members = clients
        elif workload == "steady":
            ok = record(
                entry,
                key,
                progress,
                deadline,
                servers,
                load,
                settings,
                lambda workloads, m=members: workloads.steady(m),
            )
            members = settings.steady_clients
        else:
            if members:
                close_all(servers.get(entry["name"]), load, entry)
                members = 0
            ok = record(entry, key, progress, deadline, servers, load, settings)
        if not ok and workload in ("saturation", "steady"):
            failed = key
    if members:
        close_all(servers.get(entry["name"]), load, entry)


def close_all(server, load, entry):
    """Close every socket of the load generator and let the server settle."""
    try:
        load.all("close", timeout=60)
        if server is not None and server.alive():
            server.wait_idle()
    except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
        if not load.alive():
            raise LoadGeneratorGone("a load-generator process has exited") from error
        entry["errors"].append(f"closing: {error}")


def record(entry, key, progress, deadline, servers, load, settings, measure=None):
    """Run one measurement (by default the Workloads method named `key`) and file its numbers
    under entry["rounds"][key]; True when it produced them."""
    progress.show(entry["name"], key.replace("_", " C="))
    server = servers.get(entry["name"])
    try:
        if server is None:
            return False
        if time.monotonic() > deadline:
            entry["errors"].append(f"{key}: skipped, the run's time budget was spent")
            return False
        if not server.alive():
            entry["errors"].append(f"{key}: the server is gone\n{server.output_tail()}")
            return False
        workloads = Workloads(server, load, settings)
        try:
            result = measure(workloads) if measure else getattr(workloads, key)()
        except Exception as error:  # noqa: BLE001 - recorded, and the run goes on
            if not load.alive():
                raise LoadGeneratorGone("a load-generator process has exited") from error
            entry["errors"].append(f"{key}: {type(error).__name__}: {error}")
            close_all(server, load, entry)
            return False
        entry["rounds"].setdefault(key, []).append(result)
        return True
    finally:
        progress.done += 1


def summarize(rounds):
    """The median of each number over the rounds (the one round when there is one)."""
    summary = {}
    for name in rounds[0]:
        values = [result[name] for result in rounds if result.get(name) is not None]
        if values and all(isinstance(value, (int, float)) for value in values):
            summary[name] = median(values)
        else:
            summary[name] = rounds[-1][name]
    summary["rounds"] = len(rounds)
    return summary


def _settings_dict(settings):
    data = asdict(settings)
    data["servers"] = [spec.name for spec in settings.servers]
    return data


def main(argv=None):
    import json
    from pathlib import Path

    from bench import report

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the long run for the docs")
    parser.add_argument("--no-page", action="store_true", help="do not rewrite the docs page")
    parser.add_argument(
        "--page-from", metavar="JSON", help="only write docs/performance.md from a saved run"
    )
    arguments = parser.parse_args(argv)
    if arguments.page_from:
        path = Path(arguments.page_from).resolve()
        print(f"wrote {report.write_page(json.loads(path.read_text()), path)}")
        return 0
    settings = full_settings() if arguments.full else quick_settings()
    results = run(settings)
    results["machine"] = report.machine()
    paths = report.write(results, page=not arguments.no_page)
    print(report.table(results))
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
