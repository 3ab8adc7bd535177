"""Per-task TTT of the task embedding, as a candidate source: the network stays as pretrained; each evaluated task
fits its own embedding row on its own demo pairs, all tasks of a call at once, then the wrapped
``SequenceSource`` decodes with the fitted rows, and the rows are restored.

Every task adapts only its own parameters (its row; the shared weights are frozen), so this is per-task TTT,
batched: the puzzle-embedding counterpart of fine-tuning a copy of the whole network per task (``SequenceTTTSource``),
at a fraction of its cost.
"""
from __future__ import annotations

import time

import torch

from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch
from topas_lit.data.tasks import Task
from topas_lit.eval.sequence_source import SequenceSource
from topas_lit.eval.voting import Candidate


class SequenceRowsSource:
    name = "sequence_rows"
    adapts = True          # per-task TTT: its task_info is the record's ``ttt``

    def __init__(self, base: SequenceSource, steps: int = 200, lr: float = 3e-3, batch_size: int = 32, seed: int = 0):
        if steps < 1 or batch_size < 1:
            raise ValueError(f"module.ttt.steps and module.ttt.batch_size must be >= 1, got {steps}, {batch_size}")
        self.base, self.steps, self.lr, self.batch_size, self.seed = base, steps, lr, batch_size, seed
        self.base.name = self.name
        self.task_info: list[dict] = []

    @classmethod
    def from_settings(cls, settings: dict) -> "SequenceRowsSource":
        t = settings["ttt"]
        return cls(SequenceSource.from_settings(settings), t["steps"], t["lr"], t["batch_size"], t["seed"])

    def start(self, ctx) -> None:
        self.base.start(ctx)

    def __call__(self, tasks: list[Task]) -> list[list[list[Candidate]]]:
        module = self.base.module
        model, device = module.model, module.device
        table = model.encoder.task.weight
        rows = sorted({self.base.row(t) for t in tasks} - {0})
        t0 = time.perf_counter()
        with torch.no_grad():
            saved = table[rows].clone()
        frozen = [(p, p.requires_grad) for p in model.parameters()]
        try:
            if rows:
                self.fit(tasks, table)
            seconds = (time.perf_counter() - t0) / max(1, len(tasks))
            out = self.base(tasks)
        finally:
            for p, flag in frozen:
                p.requires_grad_(flag)
            with torch.no_grad():
                table[rows] = saved
        self.task_info = [{**info, "steps": self.steps if self.base.row(t) else 0, "seconds": seconds}
                          for t, info in zip(tasks, self.base.task_info)]
        return out

    def fit(self, tasks: list[Task], table: torch.nn.Parameter) -> None:
        """Adam on the embedding table alone; only the call's rows receive gradients (their own demos)."""
        module = self.base.module
        model, device = module.model, module.device
        entries = [(self.base.row(t), list(t.demos), list(t.test_inputs)) for t in tasks if self.base.row(t)]
        bank = PairBank.build(entries).to(device)
        sampler = EpochBatches(bank, self.batch_size, seed=self.seed)
        for p in model.parameters():
            p.requires_grad_(False)
        table.requires_grad_(True)
        opt = torch.optim.Adam([table], lr=self.lr)
        was_training = model.training
        model.train()
        try:
            with torch.enable_grad():
                step, epoch = 0, 0
                while step < self.steps:
                    for raw in sampler.batches(epoch):
                        batch = build_batch(bank, {k: (v.to(device) if torch.is_tensor(v) else v)
                                                   for k, v in raw.items()})
                        module.loss(batch).backward()
                        opt.step()
                        opt.zero_grad(set_to_none=True)
                        step += 1
                        if step == self.steps:
                            break
                    epoch += 1
        finally:
            model.train(was_training)
