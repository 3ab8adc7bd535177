"""Per-task records written as they finish (one JSON line per task per rank), read back for resume, and the final
merge into ``submission.json`` (Kaggle format), ``results.jsonl`` and ``report.json`` on rank 0; ``summarize``
gives the figures of a set of records (combined and per candidate source)."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from topas_lit.eval.scoring import mean_cell_accuracy, pass_at_2

NO_ANSWER = [[0]]   # submission.json only: a test input no source answered gets this placeholder (scored as unsolved)


class ResultStore:
    """Records under ``<run>/eval/tasks.rank<r>.jsonl``; merged outputs in ``<run>/``."""

    def __init__(self, run_dir: str | os.PathLike, rank: int = 0):
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / "eval"
        self.rank = rank
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"tasks.rank{rank}.jsonl"
        self._drop_partial_line()

    def _drop_partial_line(self) -> None:
        """A run killed mid-write leaves a last line without its newline: cut it so appends stay whole lines."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def read_all(self) -> dict[str, dict]:
        return read_records(self.folder)

    def done(self) -> set[str]:
        return set(self.read_all())

    def append(self, record: dict) -> None:
        """Write one finished task durably (flush + fsync), so a killed run keeps it."""
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def merge(self, task_order: list[str], rejected: list[str], extra: dict | None = None) -> dict:
        """Write submission.json, results.jsonl (task order) and report.json; return the report."""
        recs = self.read_all()
        ordered = [recs[t] for t in task_order if t in recs]
        submission = {r["task_id"]: [{"attempt_1": a[0], "attempt_2": a[1]} for a in (x or [NO_ANSWER] * 2
                                                                                          for x in r["attempts"])]
                      for r in ordered}
        with open(self.run_dir / "submission.json", "w") as f:
            json.dump(submission, f)
        with open(self.run_dir / "results.jsonl", "w") as f:
            for r in ordered:
                f.write(json.dumps(r) + "\n")
        report = {
            **summarize(ordered),
            "tasks_missing": [t for t in task_order if t not in recs],
            "rejected_tasks": rejected,
            "ranks": dict(Counter(r["rank"] for r in ordered)),
            **(extra or {}),
        }
        with open(self.run_dir / "report.json", "w") as f:
            json.dump(report, f, indent=2)
        return report


def summarize(records: list[dict]) -> dict:
    """The figures of a set of task records: pass@2, cell accuracy, failures, rails, TTT and time per task."""
    rails = Counter(rail for r in records for rail in r["rails"])
    n_inputs = sum(rails.values())
    ttt = [r["ttt"] for r in records if r.get("ttt")]
    return {
        **pass_at_2(records),
        "cell_accuracy_per_test_input": mean_cell_accuracy(records),   # graded, secondary; not pass@2
        "tasks_evaluated": len(records),
        "test_inputs_answered": sum(1 for r in records for a in r.get("attempts", []) if a),
        "tasks_failed": {r["task_id"]: r["error"] for r in records if r.get("error")},
        "rail_counts": dict(sorted(rails.items())),
        "rail_freq": {k: v / n_inputs for k, v in sorted(rails.items())} if n_inputs else {},
        "answered_by_source": dict(sorted(Counter(s for r in records for s in r.get("answered_by", [])).items())),
        "ttt_tasks_adapted": sum(1 for t in ttt if t.get("steps", 0) > 0),
        "ttt_tasks_skipped": dict(Counter(t["skipped"] for t in ttt if t.get("skipped"))),
        "ttt_steps_per_task": _mean([t.get("steps", 0) for t in ttt]),
        "ttt_seconds_per_task": _mean([t.get("seconds", 0.0) for t in ttt]),
        "seconds_per_task": _mean([r["seconds"] for r in records]),
        "sources": per_source(records),
    }


def per_source(records: list[dict]) -> dict:
    """Each candidate source alone, from its own top-2 attempts in the same records: pass@2 per test input and
    per task (a test input it did not answer counts as unsolved), cell accuracy, how many test inputs and tasks it
    answered, and why it skipped tasks."""
    names = list(dict.fromkeys(name for r in records for name in r.get("sources", {})))
    out = {}
    for name in names:
        parts = [r["sources"][name] for r in records if name in r.get("sources", {})]
        out[name] = {
            **pass_at_2(parts),
            "cell_accuracy_per_test_input": mean_cell_accuracy(parts),
            "test_inputs_answered": sum(1 for p in parts for a in p["attempts"] if a),
            "tasks_answered": sum(1 for p in parts if any(p["attempts"])),
            "tasks_skipped": dict(Counter(p["info"]["skipped"] for p in parts if p["info"].get("skipped"))),
        }
    return out


def read_records(folder: Path) -> dict[str, dict]:
    """Finished tasks from every rank's file in ``folder`` (``<run>/eval``), first record per task id.
    A line cut short by a kill is skipped. Reads only: usable on a finished, running or read-only run."""
    out: dict[str, dict] = {}
    for file in sorted(Path(folder).glob("tasks.rank*.jsonl")):
        with open(file) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                out.setdefault(rec["task_id"], rec)
    return out


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
