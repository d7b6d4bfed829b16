"""Build every student notebook and autograder zip into _build/assignments/.

    .venv/bin/python assignments/build.py            # all assignments
    .venv/bin/python assignments/build.py 04_first_order
    .venv/bin/python assignments/build.py --no-run-tests   # skip checking the solutions
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from otter_tools import HERE, build  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default: all)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "_build" / "assignments")
    parser.add_argument("--no-run-tests", action="store_true",
                        help="do not run the reference solutions against their tests")
    args = parser.parse_args(argv)
    built = build(args.out, run_tests=not args.no_run_tests, names=args.names)
    for b in built:
        print(f"{b.name}:\n  student notebook  {b.student}\n  autograder        {b.autograder}")
    print(f"\n{len(built)} assignments built in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
