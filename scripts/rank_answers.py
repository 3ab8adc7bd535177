"""Compare the search source's answer orders (``rail.answer_order``) offline, from the records of one search run.

``python scripts/eval_rails.py ... --out results.jsonl`` records, per test input, every answer the search kept from
every view (program, steps, number of views that found the grid, which one is right). Each answer order of
``topas_lit.search.source.ranked`` is a stable sort of that list, so pass@2 under every order follows from one run,
exactly as the source would rank (the source ranks the same list before keeping the first attempts):

    python scripts/rank_answers.py results.jsonl [--dev | --heldout] [--verified]

``--dev`` / ``--heldout`` keep the ARC-AGI-1 training development split / its held-out fifth (``eval_rails``).
``--verified`` drops the unverified guesses (rail ``nearest``, ``rail.guesses``) first: the same run as if they were
off (they never displace a verified answer, so the verified answers' ranks do not depend on them).
Prints, per order, the test inputs right within the first two answers, and the tasks it gains and loses against
``found`` (the engine's order, task first, then each view's).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from topas_lit.modules.dsl.search import NEAREST  # noqa: E402
from topas_lit.search.source import ANSWER_ORDERS, TaskAnswers, ranked  # noqa: E402


def right_within(rec: dict, order: str, attempts: int = 2, verified: bool = False) -> list[bool]:
    """Per test input of one record: is the right answer among the first ``attempts`` under ``order`` (with
    ``verified``, among the verified answers only)?"""
    n = len(rec["kept"])
    marks = [[i == at for i in range(len(k))] for k, at in zip(rec["kept"], rec["right_at"])]
    rails = rec.get("kept_rails", [["?"] * len(k) for k in rec["kept"]])
    keep = [[a for a, r in enumerate(rs) if not (verified and r == NEAREST)] for rs in rails]

    def pick(per_input: list) -> list:
        return [[xs[a] for a in k] for xs, k in zip(per_input, keep)]

    answers = TaskAnswers(rec["task_id"], pick(marks), pick(rec["kept"]), pick(rails), 0, pick(rec["kept_steps"]),
                          pick(rec["kept_views"]))
    top = ranked(answers, order, attempts)
    return [any(top.grids[q]) for q in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="eval_rails.py --out records (with kept, kept_steps, kept_views, right_at)")
    ap.add_argument("--dev", action="store_true", help="ARC-AGI-1 training's development split only")
    ap.add_argument("--heldout", action="store_true", help="ARC-AGI-1 training's held-out fifth only")
    ap.add_argument("--verified", action="store_true", help="drop the unverified guesses (rail nearest) first")
    args = ap.parse_args()
    recs = [json.loads(line) for line in open(args.results)]
    need = "kept_rails" if args.verified else "kept_views"
    missing = [r["task_id"] for r in recs if need not in r]
    if missing:
        raise SystemExit(f"{args.results}: records without {need} (e.g. task {missing[0]}): rerun eval_rails.py")
    if args.dev or args.heldout:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from eval_rails import dev_tasks
        keep = {t.id for t in dev_tasks("arc1", "train", heldout=args.heldout).tasks}
        recs = [r for r in recs if r["task_id"] in keep]
    inputs = sum(len(r["kept"]) for r in recs)
    base = {r["task_id"]: all(right_within(r, "found", verified=args.verified)) for r in recs}
    print(f"{args.results}: {len(recs)} tasks, {inputs} test inputs; right among every kept answer: "
          f"{sum(x is not None for r in recs for x in r['right_at'])}")
    for order in ANSWER_ORDERS:
        right = {r["task_id"]: right_within(r, order, verified=args.verified) for r in recs}
        tasks = {t: all(v) for t, v in right.items()}
        gained = sorted(t for t in tasks if tasks[t] and not base[t])
        lost = sorted(t for t in tasks if base[t] and not tasks[t])
        print(f"{order:12s} pass@2 per test input {sum(map(sum, right.values()))}/{inputs}, per task "
              f"{sum(tasks.values())}/{len(recs)}; gained {gained}, lost {lost}")


if __name__ == "__main__":
    main()
