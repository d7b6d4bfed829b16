"""Grade a folder of submitted notebooks locally (no Docker) and write a CSV.

    .venv/bin/python assignments/grade.py SUBMISSIONS_FOLDER AUTOGRADER_ZIP [--csv scores.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from otter_tools import grade  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("autograder", type=Path)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = grade(args.folder, args.autograder, args.csv)
    for row in rows:
        print(f"{row['submission']}: {row['total']:g} / {row['possible']:g}")
    if not rows:
        print(f"no .ipynb files in {args.folder}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
