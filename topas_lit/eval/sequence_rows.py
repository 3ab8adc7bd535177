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

from topas_lit.data.tasks import Task
from topas_lit.eval.sequence_source import SequenceSource
from topas_lit.eval.sequence_ttt import PerTaskSequenceTTT
from topas_lit.eval.voting import Candidate


class SequenceRowsSource(PerTaskSequenceTTT):
    name = "sequence_rows"

    def __init__(self, base: SequenceSource, steps: int = 200, lr: float = 3e-3, batch_size: int = 32, seed: int = 0):
        super().__init__(base, steps, lr, batch_size, seed)

    def __call__(self, tasks: list[Task]) -> list[list[list[Candidate]]]:
        module = self.base.module
        model = module.model
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
        model = module.model
        entries = [(self.base.row(t), list(t.demos), list(t.test_inputs)) for t in tasks if self.base.row(t)]
        for p in model.parameters():
            p.requires_grad_(False)
        table.requires_grad_(True)
        opt = torch.optim.Adam([table], lr=self.lr)
        was_training = model.training
        model.train()
        try:
            with torch.enable_grad():
                for batch in self.demo_batches(entries):
                    module.loss(batch).backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
        finally:
            model.train(was_training)
