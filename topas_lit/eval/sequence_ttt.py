"""Per-task test-time training of the sequence solver, as a candidate source (the baseline joint TTT replaces).

For each task in turn: every weight and the task's own embedding row adapt on the task's demo pairs (each step a
batch of the demos under fresh random augmentations, AdamW), then the wrapped ``SequenceSource`` decodes the
task's test inputs with the adapted weights, and the weights are restored from a snapshot kept on the device.
"""
from __future__ import annotations

import time

import torch

from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch
from topas_lit.data.tasks import Task
from topas_lit.eval.sequence_source import SequenceSource
from topas_lit.eval.voting import Candidate


class PerTaskSequenceTTT:
    """What the per-task TTT sources share: the wrapped ``SequenceSource`` (renamed to the source's name), the
    ``module.ttt`` settings, and the demo batches they train on."""
    name = "per_task_ttt"
    adapts = True          # per-task TTT: its task_info is the record's ``ttt``

    def __init__(self, base: SequenceSource, steps: int, lr: float, batch_size: int, seed: int = 0):
        if steps < 1 or batch_size < 1:
            raise ValueError(f"module.ttt.steps and module.ttt.batch_size must be >= 1, got {steps}, {batch_size}")
        self.base, self.steps, self.lr, self.batch_size, self.seed = base, steps, lr, batch_size, seed
        self.base.name = self.name
        self.task_info: list[dict] = []

    @classmethod
    def from_settings(cls, settings: dict):
        t = settings["ttt"]
        return cls(SequenceSource.from_settings(settings), t["steps"], t["lr"], t["batch_size"], t["seed"])

    def start(self, ctx) -> None:
        self.base.start(ctx)

    def demo_batches(self, entries: list[tuple[int, list, list]]):
        """``self.steps`` training batches of the tasks' demo pairs (``(row, demos, test inputs)`` per task), each
        pair once per epoch under a fresh augmentation, built on the module's device."""
        device = self.base.module.device
        bank = PairBank.build(entries).to(device)
        sampler = EpochBatches(bank, self.batch_size, seed=self.seed)
        step, epoch = 0, 0
        while True:
            for raw in sampler.batches(epoch):
                if step == self.steps:
                    return
                yield build_batch(bank, {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in raw.items()})
                step += 1
            epoch += 1


class SequenceTTTSource(PerTaskSequenceTTT):
    name = "sequence_ttt"

    def __init__(self, base: SequenceSource, steps: int = 16, lr: float = 1e-4, batch_size: int = 16, seed: int = 0):
        super().__init__(base, steps, lr, batch_size, seed)

    def __call__(self, tasks: list[Task]) -> list[list[list[Candidate]]]:
        out, self.task_info = [], []
        for task in tasks:
            t0 = time.perf_counter()
            out += self.adapted([task])
            self.task_info.append({**self.base.task_info[0], "steps": self.steps, "seconds": time.perf_counter() - t0})
        return out

    def adapted(self, tasks: list[Task]) -> list[list[list[Candidate]]]:
        module = self.base.module
        model = module.model
        params = list(model.parameters())
        with torch.no_grad():
            snapshot = [p.clone() for p in params]
        task = tasks[0]
        row = self.base.row(task)
        demos = list(task.demos) * max(1, -(-self.batch_size // len(task.demos)))
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=0.0)
        was_training = model.training
        model.train()
        try:
            with torch.enable_grad():
                for batch in self.demo_batches([(row, demos, list(task.test_inputs))]):
                    module.loss(batch).backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            model.train(was_training)
            return self.base(tasks)
        finally:
            model.train(was_training)
            with torch.no_grad():
                for p, s in zip(params, snapshot):
                    p.copy_(s)
