"""EBR ablation from one finished run: the sequence solver's own attempts ranked by votes (then likelihood) against
the same decodes ranked by the EBR energy (product of experts over views), per evaluated set.

    python scripts/rank_ablation.py RUN_DIR [--source sequence] [--json out.json]

Needs a run with ``model.ebr.views > 0`` (its records keep the energy ranking's attempts under
``sources.<source>.info.ebr_attempts``). This is a scoring step: it reads the answers of the run's evaluated tasks
(the data.test spec in ``RUN_DIR/.hydra/config.yaml``) after every prediction is final.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from topas_lit.data.tasks import load_taskset  # noqa: E402
from topas_lit.eval.results import read_records  # noqa: E402
from topas_lit.eval.scoring import attempt_correct  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--source", default="sequence")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    run = Path(args.run_dir)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    spec = OmegaConf.to_container(cfg.data.test, resolve=True)
    tests = load_taskset(**spec)
    records = read_records(run / "eval")
    sets: dict[str, dict[str, list[int]]] = {}
    for task in tests.tasks:
        rec = records.get(task.id)
        answers = tests.solutions.get(task.id)
        if rec is None or answers is None or args.source not in rec.get("sources", {}):
            continue
        mine = rec["sources"][args.source]
        ebr = mine["info"].get("ebr_attempts")
        if ebr is None:
            raise SystemExit(f"{run}: records hold no EBR attempts (run with model.ebr.views > 0)")
        fig = sets.setdefault(Path(task.source).name, {"votes": [0, 0], "energy": [0, 0]})
        for q, answer in enumerate(answers):
            fig["votes"][0] += attempt_correct([a for a in mine["attempts"][q] if a], answer)
            fig["energy"][0] += attempt_correct(ebr[q], answer)
            fig["votes"][1] += 1
            fig["energy"][1] += 1
    print(f"| set | {args.source}: votes, then likelihood | {args.source}: EBR energy (product of experts) |")
    print("|---|---|---|")
    for name, fig in sets.items():
        v, e = fig["votes"], fig["energy"]
        print(f"| {name} | {v[0] / v[1]:.3f} ({v[0]}/{v[1]}) | {e[0] / e[1]:.3f} ({e[0]}/{e[1]}) |")
    if args.json:
        Path(args.json).write_text(json.dumps(sets, indent=2))


if __name__ == "__main__":
    main()
