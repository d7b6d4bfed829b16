"""Execution time of each chapter notebook against the 60 s target.

    python bench/chapters.py [PATTERN ...] [--timeout SECONDS]

Each ``chapters/[0-9][0-9]_*.md`` (or those whose name contains one of the PATTERNs) is
read with jupytext, executed with nbclient (kernel ``python3``, working directory
``chapters/``) and timed from kernel start to the last cell. Nothing is written back. This
script prints and never asserts; a chapter whose execution fails is reported as FAILED
with the first line of the error.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import jupytext
import nbclient
import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAPTERS = os.path.join(ROOT, "chapters")
TARGET_S = 60.0


def run(path: str, timeout: float) -> tuple[float, str | None]:
    """Seconds to execute the chapter at ``path``, and the error (None if it ran)."""
    nb = jupytext.read(path)
    nbformat.validate(nb)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout,
                                     resources={"metadata": {"path": CHAPTERS}})
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as exc:  # report and go on with the next chapter
        first = str(exc).strip().splitlines()
        return time.perf_counter() - start, f"{type(exc).__name__}: {first[-1] if first else ''}"
    return time.perf_counter() - start, None


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("patterns", nargs="*", help="run only chapters whose file name contains one of these")
    p.add_argument("--timeout", type=float, default=600, help="per-cell timeout in seconds (default 600)")
    args = p.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(CHAPTERS, "[0-9][0-9]*_*.md")))
    if args.patterns:
        paths = [q for q in paths if any(s in os.path.basename(q) for s in args.patterns)]
    if not paths:
        print(f"no chapters found in {CHAPTERS}")
        return
    print(f"executing {len(paths)} chapter(s) with nbclient (kernel python3, cwd chapters/); "
          f"target {TARGET_S:.0f} s each")
    width = max(len(os.path.basename(q)) for q in paths)
    total = 0.0
    for path in paths:
        name = os.path.basename(path)
        seconds, error = run(path, args.timeout)
        total += seconds
        status = "FAILED " + error if error else ("ok" if seconds <= TARGET_S else "OVER")
        print(f"{name.ljust(width)}  {seconds:8.1f} s  / {TARGET_S:.0f} s  {status}", flush=True)
    print(f"{'total'.ljust(width)}  {total:8.1f} s")


if __name__ == "__main__":
    main()
