"""The test-loop hooks of a LightningModule whose evaluation belongs to the evaluator.

``on_test_start`` readies the model and binds the evaluator (attached by ``topas_lit.run.build_module``); each
``test_step`` hands the batch's tasks to it (its records are the step's outputs, for the callbacks);
``on_test_end`` merges every rank's records. A module mixes this in and may override ``prepare_evaluation``.
"""
from __future__ import annotations


class EvaluatorHooks:
    evaluator = None            # topas_lit.eval.evaluator.Evaluator

    def prepare_evaluation(self) -> None:
        """What the model needs before the first task (the slot model also picks its captured forward)."""
        self.model.eval()

    def on_test_start(self) -> None:
        if self.evaluator is None:
            raise RuntimeError("no evaluator attached: build the module with topas_lit.run.build_module(cfg), or set "
                               "module.evaluator = topas_lit.eval.evaluator.Evaluator.from_config(cfg)")
        self.prepare_evaluation()
        self.evaluator.start(self)

    def test_step(self, batch, batch_idx: int) -> dict:
        records = self.evaluator.evaluate(batch.tasks)
        running = self.evaluator.running_pass_at_2()
        if running is not None:
            self.log("pass@2", running, prog_bar=True, on_step=True, on_epoch=False, logger=False,
                     batch_size=len(batch))
        return {"records": records}

    def on_test_end(self) -> None:
        self.evaluator.finish(self.trainer)
