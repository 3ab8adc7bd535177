"""Per-task TTT sources of the sequence solver: each task adapts only what is its own (its embedding row, or a
copy of every weight), the sources decode with the adapted parameters, and every parameter is restored after."""
import torch

from topas_lit.data.tasks import Task
from topas_lit.eval.sequence_rows import SequenceRowsSource
from topas_lit.eval.sequence_source import SequenceSource
from topas_lit.eval.sequence_ttt import SequenceTTTSource
from topas_lit.lit_seq import SeqLitModule

TINY = {"_target_": "topas_lit.modules.seq.model.TopasSeqModel", "d_model": 32, "heads": 4, "layers": 1, "d_ff": 32}
OPTIM = {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0, "attention_weight_decay": 0.0,
         "embedding_weight_decay": 0.0, "betas": [0.9, 0.95], "warmup": 0.0, "decay_start": 1.0, "floor": 0.0}
TASKS = [Task("a", (([[1, 2]], [[2, 1]]), ([[3, 4]], [[4, 3]])), ([[5, 6]],), "t"),
         Task("b", (([[1]], [[1, 1]]),), ([[2]],), "t")]


class Spy(SequenceSource):
    """Records the parameters the decode ran with."""

    def __call__(self, tasks):
        self.seen = {n: p.detach().clone() for n, p in self.module.model.named_parameters()}
        return super().__call__(tasks)


def _module():
    torch.manual_seed(0)
    return SeqLitModule(TINY, OPTIM, ["x", "a", "b"])


def test_row_ttt_fits_only_the_tasks_rows_decodes_with_them_and_restores():
    module = _module()
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    spy = Spy(module, n_augment=2, max_new=8)
    out = SequenceRowsSource(spy, steps=5, lr=1e-2, batch_size=4)(TASKS)
    assert len(out) == 2 and [len(o) for o in out] == [1, 1]
    table = "encoder.task.weight"
    changed = (spy.seen[table] != before[table]).any(-1)
    assert changed.tolist() == [False, False, True, True]          # rows 0 (unknown) and 1 ("x") untouched
    assert all(torch.equal(spy.seen[n], before[n]) for n in before if n != table)   # the network stayed frozen
    after = dict(module.model.named_parameters())
    assert all(torch.equal(after[n], before[n]) and after[n].requires_grad for n in before)


def test_full_ttt_adapts_every_weight_per_task_and_restores_them():
    module = _module()
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    spy = Spy(module, n_augment=2, max_new=8)
    SequenceTTTSource(spy, steps=2, lr=1e-2, batch_size=4)(TASKS[:1])
    assert (spy.seen["core.blocks.0.mlp.fc_in.weight"] != before["core.blocks.0.mlp.fc_in.weight"]).any()
    assert all(torch.equal(p, before[n]) for n, p in module.model.named_parameters())
