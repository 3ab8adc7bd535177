"""EBR refinement (which items it changes, and that it leaves the others bit for bit) and the op-bias merge
(weights, confidence, and precedence of higher-priority sources)."""
import pytest
import torch

from topas_lit.modules.ebr import EBR
from topas_lit.modules.op_bias import SOURCES, OpBiasMerge

D = 8


def ebr_inputs(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 30, 30, 10, generator=g), torch.randn(b, 900, D, generator=g),
            torch.randn(b, D, generator=g))


@pytest.fixture
def ebr():
    torch.manual_seed(0)
    return EBR(D, steps=3, step_size=1e4, tolerance=0.0)      # steps large enough to move near-tied cells


def test_refinement_changes_only_the_items_it_is_applied_to(ebr):
    logits, feats, latent = ebr_inputs()
    logits = 1e-3 * logits                                               # near ties: a refinement step flips cells
    apply = torch.tensor([True, False, True, False])
    refined, _ = ebr.refine(logits, feats, latent, apply)
    assert torch.equal(refined[~apply], logits[~apply])                  # untouched, bit for bit
    moved = (refined - logits).flatten(1).abs().amax(1)
    assert bool((moved[apply] > 0).all())
    assert bool((refined.argmax(-1) != logits.argmax(-1)).flatten(1).any(1)[apply].any())   # answers changed


def test_refinement_lowers_the_energy_of_what_it_refines():
    torch.manual_seed(1)
    ebr = EBR(D, steps=2, step_size=100.0, tolerance=0.0)     # small against the logits (std 1), above rounding
    logits, feats, latent = ebr_inputs(seed=1)
    apply = torch.ones(4, dtype=torch.bool)
    before = ebr.energy(feats, logits.softmax(-1), latent)
    _, after = ebr.refine(logits, feats, latent, apply)
    assert bool((after < before).all())


def test_an_item_whose_answer_settles_is_frozen_after_that_step():
    """With a tolerance above any step, an item whose argmax did not move in a step is converged: later steps
    leave it as it was after that step (5 steps give what 1 step gave)."""
    torch.manual_seed(2)
    logits, feats, latent = ebr_inputs(seed=2)
    apply = torch.ones(4, dtype=torch.bool)
    one = EBR(D, steps=1, step_size=1e-3, tolerance=1e9)
    five = EBR(D, steps=5, step_size=1e-3, tolerance=1e9)
    five.load_state_dict(one.state_dict())
    r1, _ = one.refine(logits, feats, latent, apply)
    r5, _ = five.refine(logits, feats, latent, apply)
    assert torch.equal(r1.argmax(-1), logits.argmax(-1))                 # tiny steps: answers did not move
    assert torch.equal(r1, r5)


def test_gates_pick_the_items_sent_to_refinement():
    ebr = EBR(D, entropy_threshold=0.5)
    confident = torch.zeros(1, 30, 30, 10)
    confident[..., 3] = 20.0                                             # near one-hot: entropy ~0
    unsure = torch.zeros(1, 30, 30, 10)                                  # uniform: entropy log(10) > 0.5
    logits = torch.cat([confident, unsure])
    inside = torch.ones(2, 30, 30, dtype=torch.bool)
    ebr.set_gate("entropy")
    assert ebr.gate_mask(logits, inside).tolist() == [True, False]
    ebr.set_gate("always")
    assert ebr.gate_mask(logits, inside).tolist() == [True, True]
    ebr.set_gate("never")
    assert ebr.gate_mask(logits, inside).tolist() == [False, False]
    with pytest.raises(ValueError, match="EBR gate"):
        ebr.set_gate("sometimes")


def test_model_applies_ebr_only_to_unsolved_gated_items_and_reports_what_changed(arc1_train):
    from hydra.utils import instantiate

    from conftest import compose_cfg, make_inputs

    torch.manual_seed(0)
    tiny_model = instantiate(compose_cfg(["rail.depth=1"]).model, _convert_="all").eval()
    inputs = make_inputs(arc1_train.tasks[:4])
    tiny_model.ebr.set_gate("never")
    plain = tiny_model(inputs, rails=False)
    assert not bool(plain.extras["ebr_applied"].any()) and not bool(plain.extras["ebr_changed"].any())
    tiny_model.ebr.set_gate("always")
    out = tiny_model(inputs)
    ex = out.extras
    assert torch.equal(ex["ebr_applied"], ~ex["solved"])                 # verified answers are never refined
    assert not bool((ex["ebr_changed"] & ~ex["ebr_applied"]).any())
    changed = (out.extras["painter_grid"] != plain.extras["painter_grid"]).flatten(1).any(1)
    assert torch.equal(changed & ex["ebr_applied"], ex["ebr_changed"])   # changed = refined answer differs


# ---- op-bias merge -------------------------------------------------------------------------------------------------
N_OPS = 5


def biases(b=2):
    g = torch.Generator().manual_seed(0)
    return {s: torch.randn(b, N_OPS, generator=g) for s in SOURCES}


def part(parts, name):
    return parts[:, SOURCES.index(name)]


def centred(x):
    return x - x.mean(-1, keepdim=True)


def test_a_confident_higher_priority_source_takes_precedence():
    merge = OpBiasMerge({"dream": 1.0, "relmem": 1.0}, {"dream": 1, "relmem": 0})
    bias = {"dream": biases()["dream"], "relmem": biases()["relmem"]}
    sure = {"dream": torch.tensor([1.0, 0.0]), "relmem": torch.ones(2)}
    merged, parts = merge(bias, sure)
    # item 0: dream fully confident -> relmem yields entirely; item 1: dream has no confidence -> relmem full
    assert torch.allclose(part(parts, "relmem")[0], torch.zeros(N_OPS), atol=1e-5)
    assert torch.allclose(part(parts, "dream")[0], centred(bias["dream"])[0])
    assert torch.allclose(part(parts, "dream")[1], torch.zeros(N_OPS))
    assert torch.allclose(part(parts, "relmem")[1], centred(bias["relmem"])[1])
    assert torch.allclose(merged, parts.sum(1))
    half = {"dream": torch.tensor([0.5, 0.5]), "relmem": torch.ones(2)}
    _, parts = merge(bias, half)
    assert torch.allclose(part(parts, "relmem"), 0.5 * centred(bias["relmem"]), atol=1e-5)   # yields (1 - 0.5)


def test_sources_of_equal_priority_do_not_yield_and_weights_scale_each_source():
    merge = OpBiasMerge({"hyla": 2.0, "cortex": 0.5}, {"hyla": 0, "cortex": 0})
    bias = {"hyla": biases()["hyla"], "cortex": biases()["cortex"]}
    _, parts = merge(bias, {"hyla": torch.ones(2), "cortex": torch.ones(2)})
    assert torch.allclose(part(parts, "hyla"), 2.0 * centred(bias["hyla"]))
    assert torch.allclose(part(parts, "cortex"), 0.5 * centred(bias["cortex"]))


def test_absent_or_unweighted_sources_contribute_nothing_and_unknown_names_fail():
    merge = OpBiasMerge({"relmem": 1.0, "dream": 1.0}, {"dream": 1})
    bias = {"relmem": biases()["relmem"]}                                 # dream absent (e.g. empty memory)
    merged, parts = merge(bias, {})
    assert torch.allclose(part(parts, "dream"), torch.zeros(2, N_OPS))
    assert torch.allclose(merged, centred(bias["relmem"]))               # nothing outranks it when dream is absent
    assert torch.allclose(part(parts, "hyla"), torch.zeros(2, N_OPS))    # weight 0
    with pytest.raises(ValueError, match="unknown op-bias source"):
        OpBiasMerge({"magic": 1.0}, {})
