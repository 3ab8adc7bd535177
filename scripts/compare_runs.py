"""Compare two evaluation runs (e.g. the same checkpoint without and with TTT) on the tasks both finished:

    python scripts/compare_runs.py outputs/eval_no_ttt outputs/eval_ttt [--names "no TTT" "TTT"]

Reads each run's per-task records (<run>/eval/tasks.rank*.jsonl, so a run still going or cut short counts with
the tasks it finished), keeps the scored tasks present in both, and prints per run: pass@2 per test input and
per task, mean cell accuracy (best of 2 attempts, 0 for a wrong size), seconds per task and TTT figures; then the
tasks that only one run solved. --json writes the same figures to a file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topas_lit.eval.results import read_records, summarize  # noqa: E402


def records_of(run: Path) -> dict[str, dict]:
    if not any((run / "eval").glob("tasks.rank*.jsonl")):
        raise SystemExit(f"error: no per-task records under {run / 'eval'} (is {run} an evaluation run folder?)")
    return read_records(run / "eval")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs=2, type=Path)
    ap.add_argument("--names", nargs=2, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    names = args.names or [str(r) for r in args.runs]
    recs = [records_of(r) for r in args.runs]
    common = [t for t in recs[0] if t in recs[1] and recs[0][t].get("correct") is not None]
    print(f"tasks finished: {names[0]} {len(recs[0])}, {names[1]} {len(recs[1])}; scored in both: {len(common)}")
    result = {"tasks": common, "runs": {}}
    for name, rec in zip(names, recs):
        s = summarize([rec[t] for t in common])
        result["runs"][name] = s
        cell = s["cell_accuracy_per_test_input"]
        print(f"{name:>12}: pass@2 per test input {s['pass@2_per_test_input']:.3f} "
              f"({s['test_inputs_solved']}/{s['test_inputs']}), per task {s['pass@2_per_task']:.3f} "
              f"({s['tasks_solved']}/{s['tasks']}), cell accuracy {'n/a' if cell is None else f'{cell:.4f}'}, "
              f"{s['seconds_per_task']:.2f} s/task ({s['seconds_per_task'] * len(common):.0f} s), "
              f"TTT adapted {s['ttt_tasks_adapted']}, skipped {s['ttt_tasks_skipped']}, failed {len(s['tasks_failed'])}")
    solved = [{t for t in common if all(r[t]["correct"])} for r in recs]
    result["only"] = {names[0]: sorted(solved[0] - solved[1]), names[1]: sorted(solved[1] - solved[0])}
    for name, only in result["only"].items():
        print(f"solved only by {name}: {len(only)} {only}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
