"""Grade a class's submissions locally (no Docker) and write a CSV of scores.

    .venv/bin/python assignments/grade.py SUBMISSIONS AUTOGRADER_ZIP --csv scores.csv
    .venv/bin/python assignments/grade.py SUBMISSIONS AUTOGRADER_ZIP --csv scores.csv \\
        --written written/ [--pdf]
    .venv/bin/python assignments/grade.py --totals scores.csv

SUBMISSIONS is a folder or a zip as a course platform downloads it: one notebook, one
folder or one zip (an otter export zip, say) per student, nested to any depth; each row
of the CSV is named after the student's file or folder. The hand-graded questions get
empty columns marked "manual"; fill them in, then ``--totals`` adds them to the total.
``--written`` writes each student's written answers as an HTML page (``--pdf``: also a
PDF, printed by Debian's chromium).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from otter_tools import grade  # noqa: E402


def totals(report: Path) -> list[dict]:
    """Recompute ``total`` in a CSV whose manual columns have been filled in."""
    with open(report, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        manual = [v for k, v in row.items() if "(manual" in k]
        row["total"] = f"{float(row['autograded']) + sum(float(v or 0) for v in manual):g}"
    if rows:
        with open(report, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, nargs="?")
    parser.add_argument("autograder", type=Path, nargs="?")
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--written", type=Path, default=None,
                        help="folder for each student's written answers (HTML)")
    parser.add_argument("--pdf", action="store_true", help="also print them to PDF")
    parser.add_argument("--totals", type=Path, default=None,
                        help="add the filled-in manual columns of this CSV to its totals")
    args = parser.parse_args(argv)
    if args.totals is not None:
        for row in totals(args.totals):
            print(f"{row['student']}: {row['total']} / {row['possible']}")
        return 0
    if args.submissions is None or args.autograder is None:
        parser.error("give SUBMISSIONS and AUTOGRADER_ZIP (or --totals CSV)")
    rows = grade(args.submissions, args.autograder, args.csv, args.written, args.pdf)
    for row in rows:
        print(f"{row['student']}: {row['autograded']:g} autograded, "
              f"{row['possible']:g} possible with the hand-graded questions")
    if not rows:
        print(f"no notebooks in {args.submissions}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
