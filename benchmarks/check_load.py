"""Reads locust's CSV stats and fails when the run missed its targets: more than 0.1% errors
(intended 402/429 are successes in the locustfile), or a p99 above 500 ms on a request that
runs no model (names starting with `read:`)."""

import argparse
import csv
import sys
from pathlib import Path

MAX_ERROR_RATIO = 0.001
MAX_READ_P99_MS = 500.0


def check(stats_csv: Path) -> list[str]:
    """Problems found in a `<prefix>_stats.csv`; empty when the run passed."""
    rows = list(csv.DictReader(stats_csv.open()))
    (aggregated,) = [r for r in rows if r["Name"] == "Aggregated"]
    requests, failures = int(aggregated["Request Count"]), int(aggregated["Failure Count"])
    problems = []
    if requests == 0:
        return ["no requests were made"]
    if failures / requests > MAX_ERROR_RATIO:
        problems.append(f"error ratio {failures / requests:.3%} > {MAX_ERROR_RATIO:.1%} ({failures} of {requests})")
    for row in rows:
        if row["Name"].startswith("read:") and int(row["Request Count"]) and float(row["99%"]) > MAX_READ_P99_MS:
            problems.append(f"p99 of {row['Name']!r} is {row['99%']} ms > {MAX_READ_P99_MS:g} ms")
    return problems


def summary(stats_csv: Path) -> str:
    lines = [f"{'name':<48} {'reqs':>6} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'req/s':>6}"]
    for row in csv.DictReader(stats_csv.open()):
        lines.append(
            f"{row['Name'][:48]:<48} {row['Request Count']:>6} {row['Failure Count']:>5} {row['50%']:>6} "
            f"{row['95%']:>6} {row['99%']:>6} {float(row['Requests/s']):>6.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", help="the --csv prefix locust wrote, e.g. benchmarks/results/load/run")
    stats = Path(parser.parse_args().prefix + "_stats.csv")
    print(summary(stats))
    problems = check(stats)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"PASS: error ratio <= {MAX_ERROR_RATIO:.1%}, p99 of every read <= {MAX_READ_P99_MS:g} ms")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
