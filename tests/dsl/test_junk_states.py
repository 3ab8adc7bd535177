"""Every primitive runs on degenerate states (random cells, PAD inside the grid, 1xN and Nx1 shapes, random
demo targets) without indexing out of range. Negative colours cannot reach a primitive: ``apply_primitive``
replaces any output that is not ok by its input, so every state is a valid grid or the task's own input."""
import pytest
import torch

from topas_lit.modules.dsl import FAMILIES, PRIMITIVES
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch, apply_primitive


@pytest.mark.parametrize("family", FAMILIES)
def test_junk_states_never_index_out_of_range(family):
    gen = torch.Generator().manual_seed(1)
    m, g = 4, 3
    cells = torch.randint(0, 11, (m * g, 30, 30), generator=gen)    # 10 = PAD
    size = torch.randint(1, 31, (m * g, 2), generator=gen)
    size[:3, 0] = 1
    size[3:6, 1] = 1
    target = torch.randint(0, 11, (m, g, 30, 30), generator=gen)
    has = torch.rand(m, g, generator=gen) < 0.7
    demos = DemoTargets(target, torch.randint(1, 31, (m, g, 2), generator=gen), has, torch.ones_like(has))
    prims = [p for p in PRIMITIVES if p.family == family]
    assert prims
    for prim in prims:
        cells_out, size_out, ok = apply_primitive(prim, GridBatch(cells, size), demos)
        assert cells_out.shape == cells.shape and size_out.shape == size.shape and ok.shape == (m * g,), prim.name
