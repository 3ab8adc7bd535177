import numpy as np
import pytest
import torch

from topas_lit.data.augment import DIHEDRAL, INVERSE, augment, deaugment, dihedral, permute_colours, random_perm
from topas_lit.data.tensors import pad_grids, unpad_grids

NUMPY = [lambda a: a, np.rot90, lambda a: np.rot90(a, 2), lambda a: np.rot90(a, 3), np.fliplr, np.flipud,
         lambda a: a.T, lambda a: np.rot90(a, 2).T]


def random_grids(n, gen):
    out = []
    for _ in range(n):
        h, w = torch.randint(1, 31, (2,), generator=gen).tolist()
        out.append(torch.randint(0, 10, (h, w), generator=gen).tolist())
    return out


def test_dihedral_matches_numpy_for_every_transform():
    gen = torch.Generator().manual_seed(0)
    grids = random_grids(8, gen)
    cells, size = pad_grids(grids)
    for k in range(8):
        out, out_size = dihedral(cells, size, torch.full((8,), k))
        for g, got in zip(grids, unpad_grids(out, out_size)):
            assert np.array_equal(np.array(got), NUMPY[k](np.array(g))), DIHEDRAL[k]


@pytest.mark.parametrize("keep_zero", [True, False])
def test_augment_then_deaugment_is_exact(keep_zero):
    gen = torch.Generator().manual_seed(1)
    grids = random_grids(64, gen)
    cells, size = pad_grids(grids)
    k = torch.arange(64) % 8                        # every transform, mixed in one batch
    perm = random_perm(64, gen, keep_zero=keep_zero)
    a_cells, a_size = augment(cells, size, k, perm)
    back, back_size = deaugment(a_cells, a_size, k, perm)
    assert torch.equal(back, cells) and torch.equal(back_size, size)
    assert not torch.equal(a_cells, cells)          # it did transform
    if keep_zero:
        assert (perm[:, 0] == 0).all()


def test_inverse_table_and_pad_preserved():
    for k in range(8):
        assert int(INVERSE[INVERSE[k]]) == k
    cells, size = pad_grids([[[1, 2, 3]]])
    perm = torch.arange(10).flip(0)[None]
    out = permute_colours(cells, perm)
    assert out[0, 0, :3].tolist() == [8, 7, 6] and (out[0, 1:] == 10).all() and (out[0, 0, 3:] == 10).all()


def test_device_side_tables_equal_the_named_tables():
    from topas_lit.data.augment import SWAPS_SIDES, inverse, swaps_sides

    k = torch.arange(8)
    assert torch.equal(swaps_sides(k), SWAPS_SIDES) and torch.equal(inverse(k), INVERSE)
