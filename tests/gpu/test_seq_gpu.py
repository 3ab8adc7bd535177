"""The sequence solver on CUDA (skipped without it; run on the device machine): under bf16 autocast the cached
decoding reproduces the full forward's next-token choices, the compiled training forward computes the eager
loss, and the training forward runs without a device-to-host copy."""
import random

import pytest
import torch

from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch
from topas_lit.lit_seq import SeqLitModule

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

MODEL = {"_target_": "topas_lit.modules.seq.model.TopasSeqModel", "d_model": 128, "heads": 4, "layers": 2,
         "d_ff": 256}
OPTIM = {"name": "normuon", "lr": 3e-4, "muon_lr": 1.66e-3, "momentum": 0.95, "beta2": 0.95, "betas": [0.9, 0.95],
         "weight_decay": 0.1, "attention_weight_decay": 0.01, "embedding_weight_decay": 0.01, "warmup": 0.02,
         "decay_start": 0.8, "floor": 0.0}


def _batch(device):
    rng = random.Random(0)

    def grid():
        h, w = rng.randint(2, 12), rng.randint(2, 12)
        return [[rng.randint(0, 9) for _ in range(w)] for _ in range(h)]
    bank = PairBank.build([(t + 1, [(grid(), grid()) for _ in range(4)], []) for t in range(4)]).to(device)
    raw = EpochBatches(bank, 16, seed=0).batches(0)[0]
    return build_batch(bank, {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in raw.items()})


def test_sampler_of_a_device_bank_draws_the_host_banks_batches():
    rng = random.Random(1)
    grids = [([[rng.randint(0, 9)] * 3] * 2, [[rng.randint(0, 9)] * 2] * 4) for _ in range(6)]
    bank = PairBank.build([(1, grids, [])])
    host, device = EpochBatches(bank, 4, seed=3).batches(2), EpochBatches(bank.to("cuda"), 4, seed=3).batches(2)
    assert len(host) == len(device)
    for a, b in zip(host, device):
        assert torch.equal(a["idx"], b["idx"]) and torch.equal(a["perm"], b["perm"]) and a["length"] == b["length"]


def test_compiled_training_forward_gives_the_eager_loss():
    torch.manual_seed(0)
    module = SeqLitModule({**MODEL, "compile": "default"}, OPTIM, ["a", "b", "c", "d"]).cuda()
    batch = _batch("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        eager = module.loss(batch)
        compiled = module.loss(batch, module.train_forward)
    torch.testing.assert_close(compiled, eager, atol=2e-2, rtol=2e-2)


def test_compiled_training_forward_traces_task_dropout():
    """ttt_mode=none trains with task dropout: its draw must trace under torch.compile (it once did not)."""
    torch.manual_seed(0)
    module = SeqLitModule({**MODEL, "compile": "default", "task_dropout": 0.5}, OPTIM, ["a", "b", "c", "d"]).cuda()
    module.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = module.loss(_batch("cuda"), module.train_forward)
    loss.backward()
    assert torch.isfinite(loss)


def test_training_forward_copies_nothing_to_the_host():
    torch.manual_seed(0)
    module = SeqLitModule(MODEL, OPTIM, ["a", "b", "c", "d"]).cuda()
    batch = _batch("cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = module.loss(batch)
        loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_cached_decoding_gives_the_full_forwards_logits_in_bf16():
    from topas_lit.data.sequences import pair_length
    from topas_lit.modules.seq.core import KVCache

    torch.manual_seed(0)
    m = SeqLitModule(MODEL, OPTIM, ["a", "b", "c", "d"]).cuda().eval().model
    b = _batch("cuda")
    tok, pos, task, k, colours = b["tokens"], b["positions"], b["task"], b["dihedral"], b["colours"]
    sep = pair_length(b["in_size"]) - 1
    prompt = int(sep.max()) + 1
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        full = m(tok, pos, task, k, colours)
        ptok, ppos, valid = m.left_pad_prompts(b["inp"], b["in_size"], prompt)
        cache = KVCache.empty(m.core.n_cache_layers, valid, prompt + 8)
        steps = [m.painter(m.core(m.embed(ptok, ppos, task, k, colours, None, None), ppos, cache, 0)[:, -1])]
        for t in range(4):
            at = (sep + 1 + t)[:, None]
            h = m.core(m.encoder(tok.gather(1, at), task, k, colours), pos.gather(1, at[..., None].expand(-1, 1, 3)),
                       cache, prompt + t)
            steps.append(m.painter(h[:, -1]))
    rows = torch.arange(tok.shape[0], device="cuda")
    for t, logits in enumerate(steps):
        torch.testing.assert_close(logits.float(), full[rows, sep + t].float(), atol=0.15, rtol=0.05)
