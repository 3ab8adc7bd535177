"""The no-CPU-transfer guard over the real forward: it passes the project's forward with every rail and EBR on,
it catches each kind of host read someone might put back into the forward (naming the op and the line), and
the forward takes one execution path: the same batch gives the same rails, programs and outputs every time."""
from types import SimpleNamespace

import pytest
import torch

from conftest import compose_cfg, make_inputs
from topas_lit.callbacks.sync_guard import HostReadError, HostReadGuard, NoCPUTransferGuard


@pytest.fixture(scope="module")
def full_model():
    """Tiny model with every rail in order and EBR refinement on every item."""
    from hydra.utils import instantiate
    cfg = compose_cfg(["model.ebr.gate=always", "rail.order=[one_glance,policy,beam]"])
    torch.manual_seed(0)
    return instantiate(cfg.model, _convert_="all").eval()


@pytest.fixture(scope="module")
def inputs(arc1_train):
    """A task the rails solve (007bbfb7) and two they do not (025d127b, 045e512c: the painter and EBR answer)."""
    return make_inputs([arc1_train.tasks[i] for i in (0, 3, 4)])


def test_no_cpu_transfers(full_model, inputs):
    """The whole forward (rails, painter, EBR under enable_grad) reads no tensor value on the host."""
    with HostReadGuard("error") as guard:
        out = full_model(inputs)
    assert guard.seen == []
    ex = out.extras
    assert bool((ex["ebr_applied"] | ex["solved"]).all()) and bool(ex["ebr_applied"].any())  # EBR ran on painter items


# what a careless edit could put back into the forward: (label, op named in the error, code)
HOST_READS = [
    ("item", "item", lambda x: x.sum().item()),
    ("cpu", "cpu", lambda x: x.cpu()),
    ("tolist", "tolist", lambda x: x.tolist()),
    ("nonzero", "nonzero", lambda x: torch.nonzero(x)),
    ("equal", "equal", lambda x: torch.equal(x, x)),
    ("python if", "__bool__", lambda x: 1 if x.sum() > 0 else 0),
    ("boolean mask", "index", lambda x: x[x > 0]),
]


@pytest.mark.parametrize("label,op,read", HOST_READS, ids=[h[0] for h in HOST_READS])
def test_guard_catches_each_host_read_and_names_op_and_line(full_model, inputs, label, op, read):
    handle = full_model.painter.register_forward_hook(lambda mod, args, output: read(output[0]))
    try:
        with pytest.raises(HostReadError) as err, HostReadGuard("error"):
            full_model(inputs)
    finally:
        handle.remove()
    msg = str(err.value)
    assert op in msg and "test_sync_guard.py" in msg, msg


def test_callback_scopes_the_guard_to_the_model_forward(full_model, inputs):
    """NoCPUTransferGuard raises inside the model's forward, and host reads outside it (Lightning's loop,
    the evaluator) stay allowed."""
    class Module:                               # what the callback reads from a LightningModule
        model = full_model
    guard = NoCPUTransferGuard("error")
    guard.on_test_start(None, Module())
    try:
        full_model(inputs)                                       # clean forward passes
        handle = full_model.painter.register_forward_hook(lambda mod, args, output: output[0].sum().item())
        with pytest.raises(HostReadError):
            full_model(inputs)
        handle.remove()
        torch.ones(2).sum().item()                               # outside the forward: allowed
    finally:
        guard.on_test_end(None, Module())


def test_single_execution_path(full_model, inputs):
    """Ten runs of the same batch: identical rail per item, programs and outputs (no host-side branching that
    could send a run down another path)."""
    runs = []
    for _ in range(10):
        out = full_model(inputs)
        runs.append((out.extras["rail"], out.extras["program"], out.grid, out.size, out.extras["solved"]))
    first = runs[0]
    for other in runs[1:]:
        for a, b in zip(first, other):
            assert torch.equal(a, b)


def test_rails_source_runs_the_search_outside_the_forward_without_host_reads(inputs):
    """Evaluation's rails source (op prior + search on two augmented copies, answers inverted) is device work
    only; the guard callback also scopes itself to the search engine's forward, called outside the model's.
    Every rail at depth 1 (the search code is the same at any depth; depth 2 is the forward tests' fixture)."""
    from hydra.utils import instantiate

    from topas_lit.eval.sources import EvalContext, RailsSource

    torch.manual_seed(0)
    model = instantiate(compose_cfg(["rail.depth=1", "rail.order=[one_glance,policy,beam]"]).model,
                        _convert_="all").eval()
    source = RailsSource(search_augmentations=2, n_augment=2)
    source.start(EvalContext(None, model, model.__call__, torch.device("cpu")))
    with HostReadGuard("error") as guard:
        found = source.propose(inputs)
    assert guard.seen == [] and found["ok"].shape == (2 * 3, 2) and found["cells"].shape == (6, 2, 30, 30)

    module = SimpleNamespace(model=model)                  # what the callback reads from a LightningModule
    callback = NoCPUTransferGuard("error")
    callback.on_test_start(None, module)
    # a host read inside the search (its fingerprinting), called by the source outside the model's forward
    handle = model.search.fingerprint.register_forward_hook(lambda mod, args, output: output[0].sum().item())
    try:
        with pytest.raises(HostReadError):
            source.propose(inputs)
    finally:
        handle.remove()
        callback.on_test_end(None, module)


@pytest.fixture(scope="module")
def v2_model():
    """The same model with the v2 engine behind its rails (rail.engine=v2)."""
    from hydra.utils import instantiate
    cfg = compose_cfg(["model.ebr.gate=always", "rail.order=[one_glance,policy,beam]", "rail.engine=v2",
                       "rail.beam_width=4", "rail.policy_topk=4"])
    torch.manual_seed(0)
    return instantiate(cfg.model, _convert_="all").eval()


def test_v2_engine_in_the_forward_reads_nothing_on_the_host_and_takes_one_path(v2_model, inputs):
    with HostReadGuard("error") as guard:
        first = v2_model(inputs)
    assert guard.seen == []
    ex = first.extras
    assert ex["solved"].tolist() == [True, False, False] and bool(ex["ebr_applied"][1:].all())
    for _ in range(2):
        again = v2_model(inputs)
        for key in ("rail", "program", "solved"):
            assert torch.equal(first.extras[key], again.extras[key])
        assert torch.equal(first.grid, again.grid) and torch.equal(first.size, again.size)
