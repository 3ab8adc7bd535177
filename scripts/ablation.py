"""Ablation of the neural core on held-out leave-one-out training pairs, one trained model, same seed/budget:

  1. painter exact match and pixel accuracy with EBR off (gate never) and on (gate always);
  2. candidates-until-verified (rank of the first verified program in the order of the policy log-probs plus
     the merged op bias, top --rank-k) with the RelMem and Dream op-bias sources on and zeroed.

    python scripts/ablation.py --ckpt run/checkpoints/last.ckpt [--limit 60] [overrides the checkpoint used]

Held-out pairs: the training tasks of the checkpoint run's validation split (data.val_fraction, never fitted)
and, for (2), those that a uniform-prior search can solve within the top-k at all.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from distill_policy import ranks  # noqa: E402
from eval_rails import build  # noqa: E402
from topas_lit.data.datamodule import ARCDataModule, LeaveOneOut, collate_items  # noqa: E402
from topas_lit.modules.dsl.grid import PAD  # noqa: E402
from topas_lit.modules.op_bias import SOURCES  # noqa: E402


@torch.no_grad()
def painter_scores(model, items, device, gate: str, batch: int = 16) -> tuple[float, float]:
    model.ebr.set_gate(gate)
    exact, pixel = [], []
    for s in range(0, len(items), batch):
        b = collate_items(items[s: s + batch])
        inputs = {k: v.to(device) for k, v in b["inputs"].items()}
        target = b["targets"]["test_out"].to(device)
        out = model(inputs, rails=False)
        grid = out.extras["painter_grid"]
        keep = target != PAD
        exact += (grid == target).flatten(1).all(1).tolist()
        pixel += (((grid == target) & keep).flatten(1).sum(1) / keep.flatten(1).sum(1)).tolist()
    return sum(exact) / len(exact), sum(pixel) / len(pixel)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--limit", type=int, default=None, help="held-out tasks used")
    ap.add_argument("--rank-k", type=int, default=64)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg, search, model = build(args.overrides, args.ckpt, args.device)
    dm = ARCDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
    dm.setup("fit")
    tasks = dm.val_tasks[: args.limit]
    items = [LeaveOneOut(tasks, cfg.data.max_train_demos, augment=False)[i]
             for i in range(len(LeaveOneOut(tasks, cfg.data.max_train_demos, augment=False)))]
    off = painter_scores(model, items, args.device, "never")
    on = painter_scores(model, items, args.device, "always")

    r_full = ranks(tasks, search, model, args.device, args.rank_k, 16)
    weights = model.op_bias.weights.clone()
    for s in ("relmem", "dream"):
        model.op_bias.weights[SOURCES.index(s)] = 0.0
    r_ablated = ranks(tasks, search, model, args.device, args.rank_k, 16)
    model.op_bias.weights.copy_(weights)
    solved = [t.id for t in tasks if min(r_full[t.id], r_ablated[t.id]) <= args.rank_k]
    med = lambda r: statistics.median(r[t] for t in solved) if solved else float("nan")  # noqa: E731
    print(f"held-out training tasks: {len(tasks)} ({len(items)} leave-one-out pairs); checkpoint {args.ckpt}")
    print(f"painter, EBR off: exact {off[0]:.3f}, pixel {off[1]:.3f}")
    print(f"painter, EBR on ({model.ebr.steps} steps): exact {on[0]:.3f}, pixel {on[1]:.3f}")
    print(f"candidates until verified (median over {len(solved)} tasks solved within top {args.rank_k}): "
          f"with RelMem+Dream op bias {med(r_full)}, without {med(r_ablated)}; solved within top-k: "
          f"{sum(r_full[t.id] <= args.rank_k for t in tasks)} vs {sum(r_ablated[t.id] <= args.rank_k for t in tasks)}")
    print(json.dumps({"ebr_off": off, "ebr_on": on, "ranks_with": r_full, "ranks_without": r_ablated}))


if __name__ == "__main__":
    main()
