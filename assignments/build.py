"""Build every student notebook and autograder zip into _build/assignments/.

    .venv/bin/python assignments/build.py            # all assignments
    .venv/bin/python assignments/build.py 04_first_order
    .venv/bin/python assignments/build.py --no-run-tests   # skip checking the solutions
    .venv/bin/python assignments/build.py --pdf    # and PDFs of the written questions
    .venv/bin/python assignments/build.py --seed 7 # a variant: other numbers in every question
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from otter_tools import HERE, MASTERS, build, written_pdfs  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default: all)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "_build" / "assignments")
    parser.add_argument("--no-run-tests", action="store_true",
                        help="do not run the reference solutions against their tests")
    parser.add_argument("--seed", type=int, default=None,
                        help="build a variant: the numbers that define the questions "
                             "(sizes, learning rates, step counts, seeds) are drawn from "
                             "this seed")
    parser.add_argument("--pdf", action="store_true",
                        help="also print the written questions (and, in autograder/, their "
                             "model answers and rubrics) to PDF with chromium")
    args = parser.parse_args(argv)
    known = [m.stem for m in MASTERS]
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"unknown assignment {', '.join(unknown)}; the assignments are:\n  "
              + "\n  ".join(known), file=sys.stderr)
        return 2
    built = build(args.out, run_tests=not args.no_run_tests, names=args.names,
                  seed=args.seed)
    for b in built:
        print(f"{b.name}:\n  student notebook  {b.student}\n  autograder        {b.autograder}")
        if args.pdf:
            for pdf in written_pdfs(b):
                print(f"  written, PDF      {pdf}")
    print(f"\n{len(built)} assignments built in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
