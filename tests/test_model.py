"""The neural core: every component learns from a loss, extras keep autograd, and the code stays free of
.detach(), lazy modules and manual dtype casts."""
import re
from pathlib import Path

import torch

from conftest import ROOT, compose_cfg, make_inputs
from topas_lit.data.tensors import encode_target
from topas_lit.modules.dsl.search import RAILS


def training_batch(tasks, n_ops):
    inputs = make_inputs(tasks)
    targets = [encode_target(t.demos[0][1]) for t in tasks]   # any valid grids serve as targets here
    b = len(tasks)
    return inputs, {
        "test_out": torch.stack([t["test_out"] for t in targets]),
        "test_out_size": torch.stack([t["test_out_size"] for t in targets]),
        "program": torch.randint(1, n_ops, (b, 2), generator=torch.Generator().manual_seed(0)),
        "program_mask": torch.ones(b, dtype=torch.bool),
        "rail": torch.tensor([RAILS.index("beam")] * b), "rail_mask": torch.ones(b, dtype=torch.bool)}


def test_every_component_gets_a_gradient(arc1_train):
    from topas_lit.run import build_module
    module = build_module(compose_cfg(["model.ebr.gate=always", "rail.op_bias.weights.dream=1.0"]))  # Dream on
    model = module.model
    n_ops = model.search.n_ops
    inputs, targets = training_batch(arc1_train.tasks[:4], n_ops)
    # a few memories, so that Dream retrieval is live
    model.dream.write(torch.randn(4, 64), torch.softmax(torch.randn(4, n_ops), -1), torch.ones(4, dtype=torch.bool))
    out = model(inputs, rails=False)
    parts = module.losses(out, targets)
    parts["loss"].backward()
    for name, child in model.named_children():
        params = list(child.named_parameters())
        if not params:
            continue
        missing = [n for n, p in params if p.grad is None]
        assert not missing, f"{name}: no gradient for {missing}"
        zero = [n for n, p in params if p.grad.abs().sum() == 0]
        assert not zero, f"{name}: zero gradient for {zero}"
    assert all(torch.isfinite(v) for v in parts.values())


def test_latent_and_slots_keep_grad_in_eval_mode(tiny_model, arc1_train):
    tiny_model.eval()
    with torch.no_grad():
        frozen = tiny_model(make_inputs(arc1_train.tasks[:2]), rails=False)
    assert not frozen.extras["latent"].requires_grad              # the caller chooses
    with torch.enable_grad():
        out = tiny_model(make_inputs(arc1_train.tasks[:2]))
    assert out.extras["latent"].requires_grad and out.extras["slot_vecs"].requires_grad
    out.extras["latent"].sum().backward()
    assert tiny_model.encoder.colour.weight.grad is not None


def test_no_lazy_submodules(tiny_model, arc1_train):
    before = [n for n, _ in tiny_model.named_modules()]
    params = sum(p.numel() for p in tiny_model.parameters())
    with torch.no_grad():
        tiny_model(make_inputs(arc1_train.tasks[:2]))
    assert [n for n, _ in tiny_model.named_modules()] == before
    assert sum(p.numel() for p in tiny_model.parameters()) == params
    assert not any("Lazy" in type(m).__name__ for m in tiny_model.modules())


MODULES = ROOT / "topas_lit" / "modules"
CASTS = re.compile(r"\.detach\(|\.half\(\)|\.bfloat16\(\)|\.float\(\)|\.double\(\)|torch\.(b?float16|float32|float64)")


def test_no_detach_or_manual_casts_in_the_model():
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in MODULES.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if CASTS.search(line.split("#")[0])]
    assert not hits, "\n".join(hits)


def test_one_dtype_policy_from_autocast(tiny_model, arc1_train):
    """Under bf16 autocast the model computes in bf16 where autocast says, with no cast of its own to undo it."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny_model(make_inputs(arc1_train.tasks[:2]), rails=False)
    assert out.logits.dtype == torch.bfloat16            # linear layers run in bf16 under the policy
    assert out.extras["policy_logits"].dtype == torch.bfloat16
