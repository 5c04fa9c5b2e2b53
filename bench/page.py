"""docs/performance.md, written from a run's results (and the latest ablation run, if any)."""

import json
import os
import time

from bench.report import (
    BURST_HEADER,
    IDLE_HEADER,
    RESULTS,
    ROOT,
    SATURATION_HEADER,
    STEADY_HEADER,
    SUMMARY_HEADER,
    burst_rows,
    find,
    idle_rows,
    markdown_table,
    number,
    ratio,
    saturation_rows,
    steady_rows,
    summary_rows,
    targets,
    targets_table,
    workload,
)

AS_SHIPPED = "step4 as shipped"
COMMANDS = {"quick": "make bench", "full": "make bench-full"}


def relative(path):
    """A path as the page links it: relative to docs/."""
    return os.path.relpath(path, ROOT / "docs")


def latest_ablation():
    runs = sorted(RESULTS.glob("*-ablation.json"))
    if not runs:
        return None, None
    return json.loads(runs[-1].read_text()), runs[-1]


def rounds_text(rounds):
    return "one round" if rounds == 1 else f"{rounds} rounds, medians shown"


def when(results):
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(results["started"]))


def version_order(versions):
    first = ["Python", "Django", "channels", "daphne", "uvicorn", "websockets"]
    return [name for name in first if name in versions] + sorted(set(versions) - set(first))


def machine_section(results):
    machine = results.get("machine", {})
    versions = machine.get("versions", {})
    memory = machine.get("memory_bytes")
    load = machine.get("load_average")
    lines = [
        f"- {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
        + (f", {memory / 2**30:.0f} GiB of memory" if memory else "")
        + f"; {machine.get('system', '?')}.",
        "- " + ", ".join(f"{name} {versions[name]}" for name in version_order(versions)) + ".",
    ]
    if load:
        lines.append(
            f"- Load average when the run started: {load[0]:.2f} (other work on the machine "
            "shows up as noise in every number; the comparisons are between servers measured "
            "minutes apart in the same run)."
        )
    return "\n".join(lines)


def shipped_on_same_layer(ablation, entry):
    """Step 4 as shipped on the layer `entry` ran on: what a variant is compared with."""
    return next(
        (
            other
            for other in ablation["servers"]
            if other["name"].startswith(AS_SHIPPED)
            and other["spec"]["layer"] == entry["spec"]["layer"]
        ),
        None,
    )


def workload_errors(entry, key):
    """The first line of each error a workload met, one per round it failed in."""
    return [error.splitlines()[0] for error in entry["errors"] if error.startswith(f"{key}:")]


def versus(value, shipped):
    return f"{ratio(value, shipped):.2f}x" if ratio(value, shipped) else "-"


def ablation_table(ablation):
    rows = []
    for entry in ablation["servers"]:
        base = shipped_on_same_layer(ablation, entry) or {"workloads": {}}
        cells = [entry["name"], entry["spec"]["layer"]]
        saturation = workload(entry, "saturation_50")
        cpu = saturation.get("server_cpu_us_per_delivery")
        base_cpu = workload(base, "saturation_50").get("server_cpu_us_per_delivery")
        cells += [
            number(saturation.get("deliveries_per_second")),
            number(cpu, 1),
            versus(cpu, base_cpu),
        ]
        steady = workload(entry, "steady")
        p99 = steady.get("p99_ms")
        base_p99 = workload(base, "steady").get("p99_ms")
        if not steady and workload_errors(entry, "steady"):
            cells += ["failed", "failed", "-"]
        else:
            cells += [number(steady.get("p50_ms"), 1), number(p99, 1), versus(p99, base_p99)]
        rows.append(cells)
    header = [
        "variant (Daphne)",
        "layer",
        "deliveries/s at C = 50",
        "server CPU µs/delivery",
        "vs as shipped",
        "steady p50 ms",
        "steady p99 ms",
        "vs as shipped",
    ]
    return markdown_table(header, rows)


def ablation_section(ablation, path):
    if ablation is None:
        return (
            "No ablation run yet: `python -m bench.ablation` measures each change below by "
            "undoing it in a copy of step 4."
        )
    base = next((entry for entry in ablation["servers"] if entry["name"] == AS_SHIPPED), None)
    before = next((e for e in ablation["servers"] if e["name"].endswith("(before)")), None)
    tutorial = find(ablation, "tutorial")
    summary = ""
    if before and base and tutorial:
        cpu = {
            name: workload(entry, "saturation_50").get("server_cpu_us_per_delivery")
            for name, entry in (("tutorial", tutorial), ("before", before), ("after", base))
        }
        before_p99 = workload(before, "steady").get("p99_ms")
        base_p99 = workload(base, "steady").get("p99_ms")
        if all(cpu.values()) and before_p99 and base_p99:
            summary = (
                f"\n\nTogether the three code and database changes took step 4 from "
                f"{ratio(cpu['before'], cpu['tutorial']):.2f}x the tutorial's CPU per delivery "
                f"to {ratio(cpu['after'], cpu['tutorial']):.2f}x, and its steady p99 from "
                f"{before_p99:.0f} ms to {base_p99:.0f} ms."
            )
    return (
        f"Measured by [`bench/ablation.py`](../bench/ablation.py) on {when(ablation)} "
        f"([{path.name}]({relative(path)}), {ablation['seconds'] / 60:.0f} minutes): each "
        "variant is a copy of step 4 with one change undone (the code and database changes "
        "with the in-memory layer, the Redis settings with `RedisChannelLayer`), all run in "
        "turn against the same workloads, "
        f'{rounds_text(ablation["settings"]["rounds"])}. "vs as shipped" compares a variant '
        "with step 4 as shipped on the same layer; above 1.00x, undoing the change made step 4 "
        "slower.\n\n"
        + ablation_table(ablation)
        + summary
        + "\n\n"
        + errors_section(ablation, "Errors in the ablation run")
    )


def undone(ablation, label):
    """What undoing one change did, in a sentence, from the ablation run."""
    if ablation is None:
        return "Not measured yet: `python -m bench.ablation` measures it."
    entry = next((e for e in ablation["servers"] if e["name"] == label), None)
    base = shipped_on_same_layer(ablation, entry) if entry else None
    if base is None:
        return "The latest ablation run has no variant without it."
    rounds = ablation["settings"]["rounds"]
    parts, ratios = [], []
    measures = [
        ("saturation_50", "server_cpu_us_per_delivery", "µs", "server CPU per delivery at C = 50"),
        ("steady", "p99_ms", "ms", "steady p99 at C = 200"),
    ]
    for key, field_name, unit, what in measures:
        value = workload(entry, key).get(field_name)
        shipped = workload(base, key).get(field_name)
        errors = workload_errors(entry, key)
        if value is not None and shipped is not None:
            ratios.append(ratio(value, shipped))
            part = (
                f"{what} {number(value, 1)} {unit} against {number(shipped, 1)} {unit} as "
                f"shipped ({versus(value, shipped)})"
            )
            if errors:
                part += f", and it failed in {len(errors)} of {rounds} rounds: `{errors[0]}`"
        elif errors:
            part = f"{what} not measurable, in {len(errors)} of {rounds} rounds: `{errors[0]}`"
        else:
            part = f"{what}: no number"
        parts.append(part)
    steady = workload(entry, "steady")
    lost = steady["expected_deliveries"] - steady["deliveries"] if steady else None
    if lost:
        parts.append(f"{lost:,} deliveries lost at the steady rate")
    text = f"**Measured** by undoing it (`{label}` in the table): " + "; ".join(parts) + "."
    if len(ratios) == 2 and all(0.9 <= value <= 1.1 for value in ratios) and lost == 0:
        text += (
            " Both are within 10% of step 4 as shipped and nothing was lost: in these "
            "workloads this change has no measurable effect."
        )
    return text


def ablation_minutes(ablation):
    return f" (about {ablation['seconds'] / 60:.0f} minutes here)" if ablation else ""


def targets_summary(results):
    rows = targets(results)
    met = [row for row in rows if row["met"]]
    missed = [row for row in rows if not row["met"]]
    text = f"{len(met)} of {len(rows)} targets are met in this run."
    if missed:
        text += " Not met: " + "; ".join(row["short"] for row in missed) + "."
    return text


# What an error in the run means, for the errors this benchmark has met.
KNOWN_ERRORS = {
    "MaxConnectionsError": (
        "`MaxConnectionsError: Too many connections` comes from redis-py's asyncio connection "
        "pool, which `channels_redis` creates per server process: by default it holds at most "
        "100 connections and raises, rather than waits, when all are busy. A room of 200 "
        "joining at once runs more concurrent layer calls than that (each join is answered by "
        "every member), and a consumer whose `group_add()` fails closes its socket. "
        '`"max_connections"` in the host dict (the pool\'s keyword argument) raises the cap.'
    ),
    "ChannelFull": (
        "`ChannelFull` from `RedisChannelLayer`: its `capacity` counts the messages waiting "
        "for a whole server process (all its sockets share one Redis key), not for one "
        "socket, so 1,000 is five messages for each member of a room of 200 on one process. "
        "Past it, `group_send` drops silently and `send` raises."
    ),
}


def errors_section(results, title="Errors and skipped workloads in this run"):
    """The run's errors, one line per server and workload, with the rounds they happened in."""
    grouped = {}
    for entry in results["servers"]:
        for error in entry["errors"]:
            first = error.splitlines()[0]
            key = (entry["name"], first.split(":")[0])
            grouped.setdefault(key, []).append(first)
    if not grouped:
        return "Every workload ran against every server: no errors."
    rounds = results["settings"]["rounds"]
    lines = [f"{title}:", ""]
    for (name, _), errors in grouped.items():
        times = f" (in {len(errors)} of {rounds} rounds; the first shown)" if rounds > 1 else ""
        lines.append(f"- {name}{times}: `{errors[0]}`")
    lines += [
        "",
        "The exception counts come from the server's whole log so far, not from one workload.",
    ]
    text = " ".join(error for errors in grouped.values() for error in errors)
    notes = [note for signature, note in KNOWN_ERRORS.items() if signature in text]
    if notes:
        lines += ["", "What they mean:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def redis_at_200(results):
    """Whether RedisChannelLayer carried a room of 200, in a sentence (none without it)."""
    redis = [
        entry
        for entry in results["servers"]
        if entry["spec"]["app"] == "step4" and entry["spec"]["layer"] == "redis"
    ]
    if not redis:
        return []
    failed = [
        entry["name"]
        for entry in redis
        if not workload(entry, "saturation_200") or not workload(entry, "steady")
    ]
    if failed:
        return [
            "Not a target, but the run's most important finding: with `RedisChannelLayer` as "
            "step 4 configures it, a room of 200 that joins at once loses sockets (the server "
            "closes them), so " + " and ".join(failed) + " have no numbers at C = 200 or at the "
            "steady rate. Why is under [Results](#results)."
        ]
    numbers = ", ".join(
        f"{number(workload(entry, 'saturation_200').get('deliveries_per_second'))} deliveries/s "
        f"at C = 200 and a steady p99 of {number(workload(entry, 'steady').get('p99_ms'), 1)} ms "
        f"on {entry['spec']['server']}"
        for entry in redis
    )
    return [
        f"`RedisChannelLayer` carries a room of 200 on every server: {numbers}. With redis-py's "
        "default pool and a per-socket capacity it closed sockets while such a room joined; "
        "step 4 now sizes both for a server process (see "
        "[What made step 4 fast](#what-made-step-3-fast))."
    ]


def cheapest_channels(results):
    """The Channels server with the least CPU per delivery at C = 50: (µs, name, x floor)."""
    floor = find(results, "floor")
    floor_cpu = workload(floor, "saturation_50").get("server_cpu_us_per_delivery") if floor else 0
    measured = [
        (workload(entry, "saturation_50").get("server_cpu_us_per_delivery"), entry["name"])
        for entry in results["servers"]
        if entry["spec"]["app"] != "floor"
    ]
    measured = [item for item in measured if item[0] is not None]
    if not measured or not floor_cpu:
        return None
    cpu, name = min(measured)
    return cpu, name, cpu / floor_cpu


def channels_path(results):
    """The "Channels itself" paragraph, with this run's numbers."""
    cheapest = cheapest_channels(results)
    if cheapest is None:
        return "the framework's own path per delivery"
    cpu, name, _ = cheapest
    floor_cpu = cpu / cheapest[2]
    return (
        f"at C = 50 the cheapest Channels setup in this run ({name}) spent {number(cpu, 1)} µs "
        f"per delivery, against the floor's {number(floor_cpu, 1)} µs for writing the frame. "
        f"The floor target (15x) asks for {number(15 * floor_cpu)} µs, less than the "
        "framework's own path; the production setup adds the Redis round trips on top"
    )


def in_words(results):
    """The targets and the run's surprises as plain sentences."""
    lines = []
    by_short = {row["short"]: row for row in targets(results)}
    cpu = [row for short, row in by_short.items() if short.startswith("CPU per delivery against")]
    if cpu:
        parts = [
            f"{row['ratio']:.2f}x on {row['short'].split()[-1]}" for row in cpu if row["ratio"]
        ]
        lines.append(
            "Step 4 as shipped, saving every message in the database, spends less server CPU per "
            "delivery than the tutorial's consumer, which saves nothing: " + ", ".join(parts) + "."
        )
    p99 = [row for short, row in by_short.items() if short.startswith("steady p99")]
    if p99:
        parts = [
            f"{row['ratio']:.2f}x on {row['short'].split()[-1]}" for row in p99 if row["ratio"]
        ]
        settings = results["settings"]
        rate = settings["steady_rate"] * settings["steady_clients"]
        lines.append(
            f"At a steady {rate:,.0f} deliveries a second its p99 latency against the "
            "tutorial's is " + ", ".join(parts) + " (the goal is 0.5x)."
        )
    tutorial_burst = [
        f"{number(workload(entry, 'burst').get('delivered_fraction'), 1, 100)}% on "
        f"{entry['spec']['server']}"
        for entry in results["servers"]
        if entry["spec"]["app"] == "tutorial" and workload(entry, "burst")
    ]
    burst = by_short.get("the burst delivered in full")
    if burst:
        lines.append(
            f"In the burst, step 4 delivered {number(burst['ratio'], 1, 100)}% of the saved "
            "messages to every member on every server and layer (the worst configuration is "
            "shown)"
            + (
                "; the tutorial delivered " + " and ".join(tutorial_burst) + ", without an error "
                "anywhere: the layer's queue (100 messages per socket) was full."
                if tutorial_burst
                else "."
            )
        )
    floor = by_short.get("CPU per delivery of the production setup against the floor")
    cheapest = cheapest_channels(results)
    if floor and cheapest:
        cpu, name, times = cheapest
        within = "comes" if times <= 15 else "does not come"
        lines.append(
            f"The guide's production setup measured {floor['ratio']:.0f}x the floor's CPU per "
            f"delivery at C = 50 ({floor['numbers']}); the cheapest Channels setup, {name} "
            f"({number(cpu, 1)} µs), {within} within 15x either, at {times:.1f}x. See "
            "[what still costs](#what-still-costs-and-what-is-not-changed)."
        )
    lines += redis_at_200(results)
    return "\n".join(f"- {line}" for line in lines)


def performance_page(results, json_path, png_path):
    settings = results["settings"]
    floor = find(results, "floor")
    floor_saturation = workload(floor, "saturation_50") if floor else {}
    client_share = floor_saturation.get("client_cpu_share")
    server_share = floor_saturation.get("server_cpu_share")
    steady = settings["steady_clients"], settings["steady_rate"], settings["steady_seconds"]
    ablation, ablation_path = latest_ablation()
    return f"""# Performance: how fast the chat fans out

[Scaling out](04-production.md) ran step 4 on several servers around one Redis. Every chat tutorial
stops at "it works"; this page says how fast the finished chat delivers, whether it loses
messages, and how it compares with the least any server must do. The numbers below come from
one run of [`bench/`](../bench/) on the machine described at the end, made with
`{COMMANDS.get(results["mode"], "python -m bench")}` on {when(results)} ({results["mode"]} run,
{results["seconds"] / 60:.0f} minutes; raw numbers in [{json_path.name}]({relative(json_path)})).

## The short answer

{targets_summary(results)}

{targets_table(results)}

{in_words(results)}

{markdown_table(SUMMARY_HEADER, summary_rows(results))}

![Deliveries per second and p99 latency against the number of sockets in the room, one line per
server]({relative(png_path)})

In words:

- **The floor** is a broadcast server written with the `websockets` library alone
  ([`bench/floor_server.py`](../bench/floor_server.py)): JSON in, one frame built once and written
  to every socket. It is the least CPU a Python chat can spend per delivered message.
- **The tutorial baseline** is the official Channels tutorial's async consumer, line for line
  ([`bench/tutorial_baseline/`](../bench/tutorial_baseline/)): no database, no validation. It is
  what a learner has without this repository.
- **step4** is [`step4_production/`](../step4_production/) as shipped: every message is
  validated and saved in SQLite before it is sent, with presence and gap repair; only the rate
  limit is off (`CHAT_RATE_LIMIT=0`) and `DJANGO_DEBUG=0`. It runs on Daphne and on uvicorn, with
  the in-memory layer and with both Redis layers; each Redis layer gets its own `redis-server`,
  whose CPU time is counted in the server's.

## What is measured

Each server runs in its own process on a free port; a fresh SQLite database is made for the run
(step 4's `db.sqlite3` is never touched). The load generator
([`bench/loadgen.py`](../bench/loadgen.py)) is {settings["processes"]} processes of `websockets`
clients, separate from the server; each chat message carries its send time, and a client that
receives it records the end-to-end latency. CPU time and memory are read with `psutil`: the
server's CPU time over a measurement, divided by the messages delivered, is the
**server CPU per delivery**, the number that decides how many users one core serves.

- **Saturation**: one room of C sockets (C = {", ".join(map(str, settings["saturation_clients"]))}),
  one of them sending as fast as it can while keeping at most {settings["saturation_window"]}
  messages in flight (a message is in flight until the sender hears it back; the sender joins
  last, so it hears its messages after the others), for {settings["saturation_seconds"]:g} s.
  Deliveries per second, p50/p99 latency, server CPU per delivery.
- **Steady**: {steady[1]:g} messages/s into a room of C = {steady[0]} for {steady[2]:g} s:
  {steady[1] * steady[0]:,.0f} deliveries a second, below every server's saturation. p50/p99
  latency.
- **Burst**: {settings["burst_senders"]} senders write {settings["burst_messages"]} messages each
  as fast as they can into a room of {settings["burst_clients"]}. The delivered fraction is what
  the members received over what they should have (every saved message, once, to every member);
  the drain time runs from the first send to the last delivery.
- **Idle memory**: {settings["idle_sockets"]:,} idle sockets, in rooms of
  {settings["idle_room_size"]}; the growth of the server's resident memory, per socket. The
  sockets are spread over rooms because step 4's presence makes joining a room of n cost O(n)
  frames (n² for the room): in one room of 1,000 the join traffic, not the sockets, would be
  measured.

All servers start first; idle memory is measured on each while it is fresh; then each workload
runs against every server in turn ({rounds_text(settings["rounds"])}), so servers that
are compared were measured minutes apart rather than a whole run apart. Before measuring, every
workload waits until the join traffic (history, presence) has stopped and the server is idle.

Is the load generator fast enough? At C = 50 the floor used {number(server_share, 0, 100)}% of
a core and the load generator {number(client_share, 0, 100)}% in total over its
{settings["processes"]} processes (both columns are in the saturation table): no process was
saturated, and what limits the floor on this 2-core machine is the sender's
{settings["saturation_window"]}-message window on shared cores. The load generator reads frames in
the socket's own callback, with no task switch per frame, and needs about
{number(floor_saturation.get("client_cpu_us_per_delivery"), 1)} µs per delivery: more than the
floor, a fraction of any Django server. So the floor's deliveries per second are a lower bound;
its CPU per delivery is exact.

## Results

### Saturation

{markdown_table(SATURATION_HEADER, saturation_rows(results))}

"Server CPU %" and "load-gen CPU %" are shares of one core over the measurement. "lost" counts
deliveries that never arrived.

### Steady rate

{markdown_table(STEADY_HEADER, steady_rows(results))}

### Burst

{markdown_table(BURST_HEADER, burst_rows(results))}

### Idle memory

{markdown_table(IDLE_HEADER, idle_rows(results))}

{errors_section(results)}

## What made step 4 fast

Measured first, then changed. The profiles (py-spy on the running server under the saturation
workload) pointed at three costs in the code, none of them in the chat's own logic; the
benchmark's own runs pointed at two settings, the database connection and the Redis pool and
queue. Each change is measured by undoing it in a copy of step 4:

{ablation_section(ablation, ablation_path)}

**1. A trip to the database thread for every event.** Since Channels 4.2,
`AsyncConsumer.dispatch()` calls `aclose_old_connections()` before every handler: a hop to the
one thread that runs synchronous database code, for every frame a socket sends and for every
group message it receives. For a chat that is one hop per delivery, and it cost more than the
delivery itself; worse, the message saves queue behind those hops on the same thread, so under
load each save waited behind thousands of them. Step 4 reaches the database only through
`database_sync_to_async`, which closes stale connections itself before and after each call, so
its consumer leaves the hop out:

```python
# step4_production/chat/consumers.py
    async def dispatch(self, message):
        \"\"\"Run the handler for a message's type: receive() for a frame, chat_message()...

        Channels' own dispatch() first calls aclose_old_connections(): a trip to the thread
        that runs database code, for every frame and every room message, which costs more than
        sending the message on. This consumer reaches the database only through
        database_sync_to_async, which closes stale connections itself, so the trip is left
        out (docs/performance.md measures the difference).
        \"\"\"
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {{message['type']}}")
        await handler(message)
```

A consumer that uses the ORM directly in a handler (through `database_sync_to_async` or not)
should keep Channels' `dispatch()`.

{undone(ablation, "step4 without the dispatch() override")}

**2. The JSON text is built once, by the sender.** The tutorial's handler calls `json.dumps` once
per member; step 4's `message_event()` puts the finished frame text in the event and
`chat_message()` only sends it. The in-memory layer still deep-copies the event for every member
(it copies a dict of three small values instead of re-encoding JSON). This change is part of
how step 4's events are shaped, so the ablation does not undo it.

**3. Full garbage collections over Django's heap.** A Django process holds a few hundred thousand
long-lived objects (settings, models, URL patterns, templates). Python's full collections walk all
of them, and a burst of messages triggers them; each pause delays every delivery behind it, which
is what the p99 column shows. `gc.freeze()` at the end of start-up moves those objects out of the
collector's sight:

```python
# step4_production/learning/asgi.py
# Everything loaded so far (Django, the apps, the routes) lives as long as the server. Freezing
# it keeps the garbage collector's full passes from walking all of it again and again: those
# passes made the slowest messages slow (docs/performance.md).
# https://docs.python.org/3/library/gc.html#gc.freeze
gc.collect()
gc.freeze()
```

{undone(ablation, "step4 without gc.freeze()")}

**4. One database connection, kept open.** With Django's default `CONN_MAX_AGE = 0`,
`database_sync_to_async` closes the connection after every call (it runs Django's
`close_old_connections()` before and after), so every save opened a new SQLite connection, ran
the `init_command` pragmas again, and closing it (the last connection to the file) checkpointed
the write-ahead log. `None` keeps the one connection of the database thread open; Django still
closes a connection that has failed:

```python
# step4_production/learning/settings.py
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # Keep the connection open between messages instead of opening one per save.
        "CONN_MAX_AGE": None,
# ...
```

On a database server such as PostgreSQL, persistent connections also want
`CONN_HEALTH_CHECKS = True`, so that a connection the server dropped is replaced before use.

{undone(ablation, "step4 with CONN_MAX_AGE = 0")}

**5. A Redis pool and queue sized for a server process.** The benchmark's first full run lost
sockets with `RedisChannelLayer`: while a room of 200 joined, the server closed between 46 and
146 of them, so that layer had no numbers at C = 200 or at the steady rate. Its log named two
limits, both per server process. redis-py's asyncio connection pool, which `channels_redis`
creates per process, holds at most 100 connections and raises `MaxConnectionsError` instead of
waiting when all are busy; a room of 200 joining at once runs more layer calls than that at the
same time (every member answers each join), and a consumer whose `group_add()` fails closes its
socket. And `RedisChannelLayer`'s `capacity` counts the messages waiting for every socket of a
process (they share one Redis list), not for one socket as in the in-memory layer: 1,000 was
five messages per member of a room of 200, and past it `group_send` drops silently
(`ChannelFull` in the log). Step 4 raises both, and the ablation undoes each on its own:

```python
# step4_production/learning/settings.py
        # redis-py's pool allows 100 connections; a room of 200 joining at once needs more.
        "max_connections": 1000,
    }}
]
if CHANNEL_LAYER == "redis":
    CHANNEL_LAYERS = {{
        "default": {{
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # One Redis queue holds the messages for every socket of a server process, so
            # this capacity is per process, not per socket as in memory.
            "CONFIG": {{"hosts": REDIS_HOSTS, "capacity": 100 * CHANNEL_LAYER_CAPACITY}},
```

{undone(ablation, "step4 redis, default pool of 100")}

{undone(ablation, "step4 redis, capacity 1,000")}

## What still costs, and what is not changed

- **Channels itself.** Every delivery is a `send()` into a per-socket queue, a task that wakes
  the consumer, `dispatch()`, the handler, and the ASGI server's `send`: {channels_path(results)}.
- **The in-memory layer** runs `_clean_expired()` over every channel and group on every
  `receive()` and `group_send()`: O(sockets) work per delivery, a visible share of the profile at
  C = 200. It is the development layer; the Redis layers do not do this.
- **Daphne (Twisted and Autobahn)** spends more per frame than uvicorn's `websockets`-based
  protocol (compare the two step 4 lines on the same layer); part of it is Autobahn formatting a
  debug log line for every frame sent, even with debug logging off.
- **The database.** Each message is one transaction of a few queries, in the one thread that
  runs database code, before it is sent. It is most of what step 4 spends beyond the tutorial in
  a small room (compare the two at C = 10), and a small share at C = 200.
- **Presence** costs O(n) frames per join in a room of n. It is outside every measurement here
  (the workloads wait for it to finish) but it is why a room of thousands should not show a
  member list.

## Reproduce

```sh
make bench          # the quick run: 6 of the servers, shorter workloads, about 3 minutes here
make bench-full     # the run on this page: longer workloads, {settings["rounds"]} rounds
```

Both print the tables and a progress line while they run, and write
`bench/results/<date>-<mode>.json`, a PNG plot next to it, and this page. `redis-server` must be
installed for the Redis lines (without it they are reported as errors and the rest runs).
`.venv/bin/python -m bench.ablation` measures the changes above{ablation_minutes(ablation)}.
Numbers are only comparable within one run: another machine, or the same one busier, gives other
absolute values, and the targets are therefore ratios.

## Machine and versions

{machine_section(results)}

## Check yourself

[`tests/test_bench.py`](../tests/test_bench.py):
`test_tiny_run_measures_sane_numbers_and_stops_every_process` runs the whole machinery on a
tiny workload (the floor, step 4 on Daphne, step 4 on uvicorn with Redis; three sockets each) and
checks that every message reaches every member once, that latencies and CPU times are plausible,
that the table, plot and page render, and that no server, `redis-server` or load-generator
process is left behind.

```sh
.venv/bin/python -m pytest tests/test_bench.py
```
"""
