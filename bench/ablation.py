"""What each of step 4's performance changes is worth: undo it in a copy of step 4, measure.

    .venv/bin/python -m bench.ablation

Each variant is a copy of step4_production/ with one change undone, run on Daphne next to
the tutorial baseline and step 4 as shipped: the fan-out at C = 50 (server CPU per delivery)
and the steady rate into a room of 200 (p99), several rounds, medians. The code and database
changes are measured with the in-memory layer; the Redis settings with RedisChannelLayer, each
against step 4 as shipped on the same layer. The results go to
bench/results/<date>-ablation.json, and docs/performance.md is written again from the latest
full run with them.
"""

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import report, runner
from bench.page import AS_SHIPPED
from bench.servers import STEP4, ServerSpec


class AblationOutdated(RuntimeError):
    """Step 4 no longer has the code an edit undoes: bench/ablation.py needs updating."""


def edit(path, pattern, replacement, what):
    text = path.read_text()
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.S | re.M)
    if count != 1:
        raise AblationOutdated(f"{path.name}: {what} not found")
    path.write_text(new)


def without_dispatch(copy):
    """Channels' own dispatch(): a database-thread trip before every handler."""
    edit(
        copy / "chat" / "consumers.py",
        r"^    async def dispatch\(self, message\):\n.*?(?=^    (async )?def )",
        "",
        "ChatConsumer.dispatch()",
    )


def without_freeze(copy):
    """No gc.freeze() at start-up."""
    edit(copy / "learning" / "asgi.py", r"^gc\.freeze\(\)\n", "", "gc.freeze()")


def without_persistent_connection(copy):
    """Django's default CONN_MAX_AGE = 0: a new SQLite connection for every database call."""
    edit(
        copy / "learning" / "settings.py",
        r'"CONN_MAX_AGE": None,',
        '"CONN_MAX_AGE": 0,',
        '"CONN_MAX_AGE": None',
    )


def without_pool_size(copy):
    """redis-py's default pool: at most 100 connections per server process."""
    edit(
        copy / "learning" / "settings.py",
        r'^\s*"max_connections": \d+,\n',
        "",
        'the "max_connections" of REDIS_HOSTS',
    )


def without_process_capacity(copy):
    """RedisChannelLayer's capacity set as for one socket (1,000), not for a whole process."""
    edit(
        copy / "learning" / "settings.py",
        r'"capacity": 100 \* CHANNEL_LAYER_CAPACITY',
        '"capacity": CHANNEL_LAYER_CAPACITY',
        "RedisChannelLayer's capacity of 100 * CHANNEL_LAYER_CAPACITY",
    )


@dataclass(frozen=True)
class Variant:
    label: str
    layer: str = "memory"
    edits: tuple = ()


CODE_CHANGES = (without_dispatch, without_freeze, without_persistent_connection)
VARIANTS = [
    Variant(AS_SHIPPED),
    Variant("step4 without the dispatch() override", edits=(without_dispatch,)),
    Variant("step4 without gc.freeze()", edits=(without_freeze,)),
    Variant("step4 with CONN_MAX_AGE = 0", edits=(without_persistent_connection,)),
    Variant("step4 without all three (before)", edits=CODE_CHANGES),
    Variant(f"{AS_SHIPPED} (redis)", layer="redis"),
    Variant("step4 redis, default pool of 100", layer="redis", edits=(without_pool_size,)),
    Variant("step4 redis, capacity 1,000", layer="redis", edits=(without_process_capacity,)),
]


def make_copies(directory):
    """One copy of step 4 per variant, with its edits made; their ServerSpecs."""
    specs = []
    for number, variant in enumerate(VARIANTS):
        copy = Path(directory) / f"variant{number}"
        shutil.copytree(
            STEP4,
            copy,
            ignore=shutil.ignore_patterns("*.sqlite3*", "__pycache__", "tests", "staticfiles"),
        )
        for change in variant.edits:
            change(copy)
        specs.append(
            ServerSpec("step4", "daphne", variant.layer, source=str(copy), label=variant.label)
        )
    return specs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chat-ablation-") as directory:
        settings = runner.Settings(
            mode="ablation",
            servers=[runner.TUTORIAL_DAPHNE, *make_copies(directory)],
            saturation_clients=(50,),
            saturation_seconds=4.0,
            workloads=("saturation", "steady"),
            rounds=arguments.rounds,
            budget_seconds=1800.0,
        )
        results = runner.run(settings)
    results["machine"] = report.machine()
    report.RESULTS.mkdir(parents=True, exist_ok=True)
    path = report.RESULTS / f"{report.stamp(results)}-ablation.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(report.table(results))
    print(f"wrote {path}")
    full = sorted(report.RESULTS.glob("*-full.json"))
    if full:
        from bench.page import performance_page

        latest = json.loads(full[-1].read_text())
        png = full[-1].with_suffix(".png")
        report.PAGE.write_text(performance_page(latest, full[-1], png))
        print(f"wrote {report.PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
