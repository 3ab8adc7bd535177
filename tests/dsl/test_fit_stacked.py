"""Options built side by side (``fit_stacked``, ``crops``) choose and crop exactly as the option-by-option loop
(``fit_choice``, ``_crop``) they replace."""
import torch

from topas_lit.modules.dsl.components import fit_choice, fit_stacked, take_option
from topas_lit.modules.dsl.cropping import _crop, crops
from topas_lit.modules.dsl.grid import PAD, inside
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch


def _random_fit_case(seed: int, m: int = 40, gs: int = 4, k: int = 7, s: int = 6):
    """M candidates of G slots (the last a test slot), K options per slot; each option's grid is the target itself,
    the target with one cell changed (right size only), or random (sizes random too), the same kind in all the
    candidate's slots."""
    gen = torch.Generator().manual_seed(seed)
    n = m * gs
    tsize = torch.randint(1, s + 1, (n, 2), generator=gen)
    target = torch.randint(0, 10, (n, s, s), generator=gen)
    target = torch.where(inside(tsize, s), target, PAD)
    kind = torch.randint(0, 3, (m, 1, k), generator=gen)                   # per candidate and option, all its slots
    kind[::4] = 2                                                          # every 4th candidate: no option fits
    kind = kind.expand(m, gs, k).reshape(n, k)
    noise = torch.randint(0, 10, (n, k, s, s), generator=gen)
    one_off = target[:, None].clone().expand(n, k, s, s).clone()
    one_off[:, :, 0, 0] = (one_off[:, :, 0, 0] + 1) % 10
    cells = torch.where((kind == 0)[..., None, None], target[:, None], torch.where((kind == 1)[..., None, None],
                                                                                  one_off, noise))
    size = torch.where((kind < 2)[..., None], tsize[:, None], torch.randint(1, s + 1, (n, k, 2), generator=gen))
    ok = torch.rand(n, k, generator=gen) < 0.85
    has = torch.ones(m, gs, dtype=torch.bool)
    has[:, -1] = False
    demos = DemoTargets(target.view(m, gs, s, s), tsize.view(m, gs, 2), has, torch.ones_like(has))
    return demos, cells, size, ok


def test_fit_stacked_chooses_as_fit_choice():
    for seed in range(5):
        demos, cells, size, ok = _random_fit_case(seed)
        n = cells.shape[0]
        rows = torch.arange(n)
        choice, fit_ok = fit_stacked(demos, cells, size, ok)
        want, want_ok = fit_choice(demos, cells.shape[1], lambda k: (cells[rows, k], size[rows, k], ok[rows, k]))
        assert torch.equal(choice, want) and torch.equal(fit_ok, want_ok)
        assert fit_ok.any() and not fit_ok.all()                       # both outcomes occur: the case tests both
        c, sz, o = take_option(cells, size, ok, choice)
        assert torch.equal(c, cells[rows, choice]) and torch.equal(sz, size[rows, choice])
        assert torch.equal(o, ok[rows, choice])


def test_crops_equal_one_crop_at_a_time():
    gen = torch.Generator().manual_seed(0)
    n, k, s = 30, 5, 8
    size = torch.randint(1, s + 1, (n, 2), generator=gen)
    cells = torch.where(inside(size, s), torch.randint(0, 10, (n, s, s), generator=gen), PAD)
    g = GridBatch(cells, size)
    top, left = torch.randint(-1, s, (n, k), generator=gen), torch.randint(-1, s, (n, k), generator=gen)
    h, w = torch.randint(0, s + 1, (n, k), generator=gen), torch.randint(0, s + 1, (n, k), generator=gen)
    ok = torch.rand(n, k, generator=gen) < 0.8
    out, out_size, out_ok = crops(g, top, left, h, w, ok)
    for j in range(k):
        c, sz, o = _crop(g, top[:, j], left[:, j], h[:, j], w[:, j], ok[:, j])
        assert torch.equal(out[:, j], c) and torch.equal(out_size[:, j], sz) and torch.equal(out_ok[:, j], o)
    assert out_ok.any() and not out_ok.all()
