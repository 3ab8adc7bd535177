"""Inference forward throughput, side by side in one run: the project's sync-free forward (eager and captured
as CUDA graphs) against the seed-style reference path, same model and weights, at several batch sizes.

    python benchmarks/forward_speed.py [--device cuda] [--batches 1 8 64] [--demos 3] [overrides, e.g. +experiment=gpu]

Prints tasks/s (median of repeated runs after warm-up) and ratios; writes them to docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
from contextlib import nullcontext

import torch

from common import build_model, device_name, eval_batch, median_time, write_section
from seed_style import seed_style_forward
from topas_lit.capture import GraphedForward


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--demos", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg, model = build_model(args.overrides, args.device)
    cuda = args.device.startswith("cuda")
    bf16 = cfg.trainer.get("precision") == "bf16-mixed"
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 and cuda else nullcontext
    graphed = GraphedForward(model) if cuda else None
    rows = []
    for b in args.batches:
        inputs = eval_batch(b, args.demos, args.device)

        def eager():
            with torch.no_grad(), amp():
                return model(inputs)

        def seed():
            with amp():
                return seed_style_forward(model, inputs)

        t_eager = median_time(eager, args.device, repeats=args.repeats)
        t_seed = median_time(seed, args.device, repeats=args.repeats)
        t_graph = None
        if graphed is not None:
            def graph():
                with amp():
                    return graphed(inputs)
            t_graph = median_time(graph, args.device, repeats=args.repeats)
        rows.append((b, t_seed, t_eager, t_graph))
        print(f"batch {b:3d}: seed-style {b / t_seed:8.2f} tasks/s | sync-free eager {b / t_eager:8.2f} "
              f"({t_seed / t_eager:.2f}x)" + (f" | CUDA graph {b / t_graph:8.2f} ({t_seed / t_graph:.2f}x vs seed, "
                                              f"{t_eager / t_graph:.2f}x vs eager)" if t_graph else ""), flush=True)
    r = cfg.rail
    setting = (f"model d_model={cfg.model.d_model}, precision {cfg.trainer.precision}, rails {list(r.order)} depth "
               f"{r.depth} beam {r.beam_width} policy_topk {r.policy_topk}, EBR {cfg.model.ebr.steps} steps gate "
               f"{cfg.model.ebr.gate}, {args.demos} demos per task, ARC-AGI-1 evaluation inputs, random weights; "
               f"median of {args.repeats} after 2 warm-ups")
    lines = [f"Device: {device_name(args.device)}. {setting}.", "",
             f"Command: `python benchmarks/forward_speed.py --device {args.device} --batches {' '.join(map(str, args.batches))} "
             f"{' '.join(args.overrides)}`", "",
             "| batch | seed-style tasks/s | sync-free eager tasks/s | eager / seed | CUDA graph tasks/s | graph / seed | graph / eager |",
             "|---|---|---|---|---|---|---|"]
    for b, ts, te, tg in rows:
        g = f"{b / tg:.2f} | {ts / tg:.2f}x | {te / tg:.2f}x" if tg else "- | - | -"
        lines.append(f"| {b} | {b / ts:.2f} | {b / te:.2f} | {ts / te:.2f}x | {g} |")
    if not args.no_write:
        write_section("forward_speed", "## Inference forward: sync-free vs seed-style, eager vs captured\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
