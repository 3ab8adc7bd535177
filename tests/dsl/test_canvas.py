"""Every primitive gives the same answer on a small canvas as on the 30 x 30 one: the search engine packs small
tasks on an s x s canvas (s < 30), so a primitive must read the canvas side from its tensors, never assume 30.
Outputs that would not fit the small canvas must come back not ok there."""
import pytest
import torch

from topas_lit.data.tensors import pad_grids
from topas_lit.modules.dsl import PRIMITIVES
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, apply_primitive

SMALL = 12


def _batch(tasks, s):
    """All slots (demo inputs, then the test input) of each task, targets = demo outputs, on an s x s canvas."""
    g = max(len(t.demos) for t in tasks) + 1
    ins, outs, has = [], [], []
    for t in tasks:
        pairs = list(t.demos) + [(t.demos[0][0], t.demos[0][1])] * (g - 1 - len(t.demos))
        ins += [i for i, _ in pairs] + [t.test_inputs[0]]
        outs += [o for _, o in pairs] + [[[0]]]
        has += [True] * len(t.demos) + [False] * (g - 1 - len(t.demos)) + [False]
    ci, si = pad_grids(ins)
    co, so = pad_grids(outs)
    has = torch.tensor(has).view(len(tasks), g)
    co = torch.where(has.view(-1, 1, 1), co, 10)
    demos = DemoTargets(co.view(len(tasks), g, 30, 30)[..., :s, :s].contiguous(), so.view(len(tasks), g, 2), has,
                        torch.ones_like(has))
    return GridBatch(ci[:, :s, :s].contiguous(), si), demos


@pytest.fixture(scope="module")
def small_tasks(arc1_train):
    def fits(t):
        grids = [x for d in t.demos for x in d] + list(t.test_inputs)
        return max(max(len(x), len(x[0])) for x in grids) <= SMALL
    return [t for t in arc1_train.tasks if fits(t)][:48]


@pytest.mark.parametrize("family", sorted({p.family for p in PRIMITIVES}))
def test_small_canvas_matches_full_canvas(small_tasks, family):
    g30, d30 = _batch(small_tasks, 30)
    gs, ds = _batch(small_tasks, SMALL)
    for prim in [p for p in PRIMITIVES if p.family == family]:
        c30, s30, ok30 = apply_primitive(prim, GridBatch(g30.cells, g30.size), d30)
        cs, ss, oks = apply_primitive(prim, GridBatch(gs.cells, gs.size), ds)
        fits = ok30 & (s30 <= SMALL).all(1)
        assert torch.equal(oks, fits), (prim.name, (oks != fits).nonzero()[:5].flatten().tolist())
        assert torch.equal(ss[fits], s30[fits]), prim.name
        assert torch.equal(cs[fits], c30[fits][:, :SMALL, :SMALL]), prim.name
        assert (c30[fits][:, SMALL:] == 10).all() and (c30[fits][:, :, SMALL:] == 10).all(), prim.name
