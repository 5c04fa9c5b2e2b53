"""Put a saved run's tables into docs/performance.md; the page's prose is written by hand.

    python -m bench.page                        # the latest full run in bench/results/
    python -m bench.page bench/results/X.json   # that run

The page marks each generated part with a pair of comments, <!-- bench:NAME --> and
<!-- /bench:NAME -->; only what lies between them is replaced.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from bench import report

PAGE = report.ROOT / "docs" / "performance.md"
MARKED = re.compile(r"(<!-- bench:(\w+) -->).*?(<!-- /bench:\2 -->)", re.S)


def link(path):
    """A repository file as the page links it: relative to docs/."""
    return os.path.relpath(path, PAGE.parent)


def run_section(results, path):
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(results["started"]))
    machine = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    count = results["settings"]["rounds"]
    rounds = (
        "one round"
        if count == 1
        else f"{count} rounds (medians; the storm in every round for its target's four servers, "
        "in the first only for the others)"
    )
    return "\n".join(
        [
            f"Measured on {when}: {results['mode']} run, {results['seconds'] / 60:.0f} minutes, "
            f"{rounds}. Raw numbers: [{path.name}]({link(path)}).",
            "",
            f"- {machine['cpu']}, {machine['cores']} cores, "
            f"{machine['memory_bytes'] / 2**30:.0f} GiB; {machine['system']}; load average "
            f"{machine['load_average'][0]:.2f} when the run started.",
            f"- {versions}.",
            "",
            f"![Deliveries per second and p99 latency against C, one line per server]"
            f"({link(path.with_name(results['plot']))})",
        ]
    )


def errors_section(results):
    errors = [
        f"- {entry['name']}: `{error.splitlines()[0]}`"
        for entry in results["servers"]
        for error in entry["errors"]
    ]
    return "\n".join(errors) or "None: every workload ran against every server."


def sections(results, path):
    """The generated parts of the page, by marker name."""
    generated = {name: report.markdown(table) for name, table in report.all_tables(results).items()}
    generated["run"] = run_section(results, path)
    generated["errors"] = errors_section(results)
    return generated


def fill(text, generated):
    """`text` with every marked part replaced; a marker the run has no part for is an error."""

    def replace(match):
        if match[2] not in generated:
            raise KeyError(f"docs/performance.md marks {match[2]!r}, which the bench does not make")
        return f"{match[1]}\n{generated[match[2]]}\n{match[3]}"

    return MARKED.sub(replace, text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.page", description=__doc__)
    parser.add_argument("run", nargs="?", help="a run's JSON (default: the latest full run)")
    arguments = parser.parse_args(argv)
    runs = sorted(report.RESULTS.glob("*-full.json"))
    if not arguments.run and not runs:
        sys.exit("no full run in bench/results/: make bench-full first")
    path = Path(arguments.run or runs[-1]).resolve()
    PAGE.write_text(fill(PAGE.read_text(), sections(json.loads(path.read_text()), path)))
    print(f"wrote {PAGE} from {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
