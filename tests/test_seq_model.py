"""The sequence solver's model: cached decoding computes what the full forward computes, the painter's grammar
only lets rectangular grids finish, the forward reads nothing on the host, every stage gets a gradient, a tiny
model trained on a few pairs decodes them exactly, and the source inverts every augmentation."""
import random

import pytest
import torch

from topas_lit.callbacks.sync_guard import HostReadGuard
from topas_lit.data.augment import augment
from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch
from topas_lit.data.sequences import pair_length, serialize
from topas_lit.data.tasks import Task
from topas_lit.data.tensors import pad_grids
from topas_lit.eval.sequence_source import SequenceSource
from topas_lit.eval.voting import vote
from topas_lit.lit_seq import SeqLitModule
from topas_lit.modules.seq.core import KVCache
from topas_lit.modules.seq.model import TopasSeqModel
from topas_lit.modules.seq.painter import PaintState, Painter

TINY = {"_target_": "topas_lit.modules.seq.model.TopasSeqModel", "d_model": 32, "heads": 4, "layers": 2, "d_ff": 64}
OPTIM = {"name": "normuon", "lr": 3e-3, "muon_lr": 1e-2, "momentum": 0.95, "beta2": 0.95, "betas": [0.9, 0.95],
         "weight_decay": 0.0, "attention_weight_decay": 0.0, "embedding_weight_decay": 0.0, "warmup": 0.05,
         "decay_start": 0.8, "floor": 0.0}
PAIRS = [([[1, 2, 3], [4, 5, 6]], [[7], [8], [9], [0]]), ([[3]], [[1, 1], [2, 2]])]


@pytest.mark.parametrize("cycles,slots,colour", [(1, False, False), (2, False, False), (1, True, True)])
def test_cached_decoding_gives_the_full_forwards_logits(cycles, slots, colour):
    torch.manual_seed(0)
    m = TopasSeqModel(32, 4, 2, 64, n_tasks=4, cycles=cycles, slots={"enabled": slots}, colour_cond=colour).eval()
    ci, si = pad_grids([p[0] for p in PAIRS])
    co, so = pad_grids([p[1] for p in PAIRS])
    tok, pos, sep = serialize(ci, si, co, so, int(pair_length(si, so).max()))
    task, k = torch.tensor([1, 2]), torch.tensor([0, 5])
    colours = torch.stack([torch.arange(10), torch.tensor([0, 3, 1, 2, 4, 5, 6, 7, 9, 8])])
    full = m(tok, pos, task, k, colours, ci, si)
    prompt = int(pair_length(si).max())
    ptok, ppos, valid = m.left_pad_prompts(ci, si, prompt)
    cache = KVCache.empty(m.core.n_cache_layers, valid, prompt + 8)
    steps = [m.painter(m.core(m.embed(ptok, ppos, task, k, colours, ci, si), ppos, cache, 0)[:, -1])]
    for t in range(5):
        at = (sep + 1 + t)[:, None]
        h = m.core(m.encoder(tok.gather(1, at), task, k, colours), pos.gather(1, at[..., None].expand(-1, 1, 3)), cache,
                   prompt + t)
        steps.append(m.painter(h[:, -1]))
    for n in range(2):
        for t, logits in enumerate(steps):
            torch.testing.assert_close(full[n, int(sep[n]) + t], logits[n], atol=1e-5, rtol=1e-4)


def test_the_grammar_lets_only_rectangular_grids_finish():
    torch.manual_seed(1)
    painter = Painter(8)
    state = PaintState.start(64, "cpu")
    gen = torch.Generator().manual_seed(1)
    bias = torch.zeros(15)
    bias[10], bias[13] = 3.0, 3.0                           # newlines and END likely: grids finish early
    for _ in range(200):
        state = painter.step(torch.randn(64, 15, generator=gen) * 3 + bias, state)[3]
    cells, size = state.grid()
    assert state.done.any()
    for n in torch.nonzero(state.done)[:, 0].tolist():
        h, w = size[n].tolist()
        assert 1 <= h <= 30 and 1 <= w <= 30
        assert (cells[n, :h, :w] < 10).all() and (cells[n, h:, :] == 10).all() and (cells[n, :, w:] == 10).all()


def test_the_forward_and_a_decoding_step_read_nothing_on_the_host():
    torch.manual_seed(0)
    m = TopasSeqModel(32, 4, 2, 64, n_tasks=4, slots={"enabled": True}).eval()
    ci, si = pad_grids([p[0] for p in PAIRS])
    co, so = pad_grids([p[1] for p in PAIRS])
    tok, pos, _ = serialize(ci, si, co, so, 20)
    task, k = torch.tensor([1, 2]), torch.tensor([0, 1])
    with HostReadGuard("error") as guard:
        logits = m(tok, pos, task, k, None, ci, si)
        m.painter.step(logits[:, 5], PaintState.start(2, "cpu"))
    assert guard.seen == []


def test_every_stage_gets_a_gradient():
    torch.manual_seed(0)
    module = SeqLitModule({**TINY, "slots": {"enabled": True}, "cycles": 2, "colour_cond": True}, OPTIM, ["a", "b"])
    bank = PairBank.build([(1, PAIRS, [])])
    batch = build_batch(bank, EpochBatches(bank, 2).batches(0)[0])
    module.loss(batch).backward()
    stages = {"encoder", "slots", "core", "painter"}
    got = {n.split(".")[0] for n, p in module.model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert stages <= got, stages - got


def _train(module, bank, steps):
    opt = module.configure_optimizers()["optimizer"]
    sampler = EpochBatches(bank, 8, augment=False, seed=0)
    for step in range(steps):
        module.loss(build_batch(bank, sampler.batches(step)[0])).backward()
        opt.step()
        opt.zero_grad()


def test_a_tiny_model_learns_its_pairs_and_decodes_them_exactly():
    torch.manual_seed(0)
    tasks = [Task("a", tuple(PAIRS[:1]), (PAIRS[0][0],), "t"), Task("b", tuple(PAIRS[1:]), (PAIRS[1][0],), "t")]
    module = SeqLitModule(TINY, {**OPTIM, "name": "adamw", "lr": 1e-2}, ["a", "b"])
    module.__dict__["_trainer"] = None
    module.progress = lambda step: 0.5                      # constant learning rate (no trainer here)
    bank = PairBank.build([(1, PAIRS[:1], []), (2, PAIRS[1:], [])])
    _train(module, bank, 90)
    cands = SequenceSource(module, n_augment=1, drop_input_copies=False)(tasks)
    assert [c[0][0].grid for c in cands] == [PAIRS[0][1], PAIRS[1][1]]


class Oracle:
    """Stands in for the model: 'decodes' the augmented true answer of each augmented input."""

    def __init__(self, answers: dict):
        self.answers, self.training = answers, False
        self.ebr = type("E", (), {"views": 0})()

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def generate(self, inp, in_size, task, k, colours, prompt_length, max_new):
        cells, sizes = [], []
        for n in range(inp.shape[0]):
            for (ki, perm_row), (c, s) in self.answers.items():
                a, asz = augment(*pad_grids([self.src[(ki, perm_row)]]), torch.tensor([ki]), torch.tensor([perm_row]))
                if int(k[n]) == ki and torch.equal(a[0], inp[n]) and torch.equal(asz[0], in_size[n]):
                    o, osz = augment(c, s, torch.tensor([ki]), torch.tensor([perm_row]))
                    cells.append(o[0])
                    sizes.append(osz[0])
                    break
        return torch.stack(cells), torch.stack(sizes), torch.zeros(inp.shape[0])


def test_the_source_inverts_every_view_back_to_the_answer():
    rng = random.Random(0)
    q = [[rng.randint(1, 9) for _ in range(4)] for _ in range(3)]
    answer = [[rng.randint(0, 9) for _ in range(2)] for _ in range(5)]
    task = Task("t", ((q, answer),), (q,), "x")
    module = type("M", (), {"device": torch.device("cpu"), "task_rows": {"t": 1}})()
    source = SequenceSource(module, n_augment=12, drop_input_copies=False)
    views = source.views([task])
    oracle = Oracle({})
    oracle.src = {}
    for v in views:
        key = (v.k, tuple(v.perm.tolist()))
        oracle.answers[key] = pad_grids([answer])
        oracle.src[key] = q
    module.model = oracle
    cands = source([task])[0][0]
    assert len(cands) == 12 and all(c.grid == answer for c in cands)
    assert vote(cands, 2)[0].count == 12
