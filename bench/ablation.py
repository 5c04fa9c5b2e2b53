"""What each of step 3's performance changes is worth: undo it in a copy of step 3, measure.

    .venv/bin/python -m bench.ablation

Each variant is a copy of step3_channel_layer/ with one edit, run on Daphne with the in-memory
layer next to the tutorial baseline: the fan-out at C = 50 (server CPU per delivery) and the
steady rate (p99), several rounds, medians. The results go to
bench/results/<date>-ablation.json, and docs/performance.md is written again from the latest
full run with them.
"""

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench import report, runner
from bench.page import AS_SHIPPED
from bench.servers import STEP3, ServerSpec


class AblationOutdated(RuntimeError):
    """Step 3 no longer has the code an edit undoes: bench/ablation.py needs updating."""


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


def persistent_connections(copy):
    """CONN_MAX_AGE = None: one SQLite connection kept open, instead of one per database call."""
    settings = copy / "learning" / "settings.py"
    if '"CONN_MAX_AGE"' in settings.read_text():
        raise AblationOutdated("settings.py sets CONN_MAX_AGE already")
    edit(
        settings,
        r'^(\s*)"ENGINE": "django\.db\.backends\.sqlite3",\n',
        r'\g<0>\1"CONN_MAX_AGE": None,\n',
        "the SQLite ENGINE line",
    )


VARIANTS = [
    (AS_SHIPPED, []),
    ("step3 without the dispatch() override", [without_dispatch]),
    ("step3 without gc.freeze()", [without_freeze]),
    ("step3 without either (before)", [without_dispatch, without_freeze]),
    ("step3 plus CONN_MAX_AGE=None (not shipped)", [persistent_connections]),
]


def make_copies(directory):
    """One copy of step 3 per variant, with its edits made; their ServerSpecs."""
    specs = []
    for number, (label, edits) in enumerate(VARIANTS):
        copy = Path(directory) / f"variant{number}"
        shutil.copytree(
            STEP3,
            copy,
            ignore=shutil.ignore_patterns("*.sqlite3*", "__pycache__", "tests", "staticfiles"),
        )
        for change in edits:
            change(copy)
        specs.append(ServerSpec("step3", "daphne", "memory", source=str(copy), label=label))
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
