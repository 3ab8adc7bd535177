"""The 8 dihedral transforms x colour permutations, on batched padded grids, each with an exact inverse.

``k`` in 0..7 indexes DIHEDRAL; a colour permutation ``perm [N, 10]`` maps colour c to ``perm[n, c]``
(PAD stays PAD). Both act per grid, so one call transforms a whole batch, each item its own way.
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import N_COLOURS, PAD, S, coords, inside, remap

DIHEDRAL = ("identity", "rot90", "rot180", "rot270", "flip_lr", "flip_ud", "transpose", "antitranspose")
INVERSE = torch.tensor([0, 3, 2, 1, 4, 5, 6, 7])   # DIHEDRAL[INVERSE[k]] undoes DIHEDRAL[k]
SWAPS_SIDES = torch.tensor([False, True, False, True, False, False, True, True])


def dihedral(cells: Tensor, size: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """Apply DIHEDRAL[k[n]] to grid n. cells [N,30,30], size [N,2], k [N] -> (cells, size)."""
    i, j = coords(S, cells.device)                    # output coordinates, [30, 30]
    h = size[:, 0, None, None] - 1                    # [N,1,1]
    w = size[:, 1, None, None] - 1
    i, j = i.expand_as(cells), j.expand_as(cells)
    # source (row, col) of output cell (i, j) for each transform, numpy conventions (rot90 = counter-clockwise)
    rows = torch.stack([i, j, h - i, h - j, i, h - i, j, h - j])
    cols = torch.stack([j, w - i, w - j, i, w - j, j, i, w - i])
    sel = k.view(1, -1, 1, 1).expand(1, *cells.shape)
    src_r = rows.gather(0, sel)[0]
    src_c = cols.gather(0, sel)[0]
    swap = swaps_sides(k)
    new_size = torch.where(swap[:, None], size.flip(-1), size)
    return remap(cells, src_r, src_c, inside(new_size)), new_size


def swaps_sides(k: Tensor) -> Tensor:
    """SWAPS_SIDES[k] by arithmetic on k's device (rot90, rot270, transpose, antitranspose): no host constant to
    copy over, so augmenting reads and copies nothing between host and device."""
    return ((k % 2 == 1) & (k < 4)) | (k >= 6)


def inverse(k: Tensor) -> Tensor:
    """INVERSE[k] on k's device: rot90 and rot270 undo each other; every other transform is its own inverse."""
    return torch.where((k == 1) | (k == 3), 4 - k, k)


def permute_colours(cells: Tensor, perm: Tensor) -> Tensor:
    """Map colour c of grid n to perm[n, c]; PAD stays PAD. cells [N,30,30], perm [N,10]."""
    lut = torch.cat([perm, torch.full_like(perm[:, :1], PAD)], 1)  # [N, 11]
    return lut.gather(1, cells.reshape(cells.shape[0], S * S)).view_as(cells)


def invert_perm(perm: Tensor) -> Tensor:
    return perm.argsort(-1)


def augment(cells: Tensor, size: Tensor, k: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
    """Dihedral k, then colour permutation perm."""
    cells, size = dihedral(cells, size, k)
    return permute_colours(cells, perm), size


def deaugment(cells: Tensor, size: Tensor, k: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
    """Exact inverse of ``augment`` with the same (k, perm)."""
    cells = permute_colours(cells, invert_perm(perm))
    return dihedral(cells, size, inverse(k))


def random_perm(n: int, generator: torch.Generator, keep_zero: bool = True) -> Tensor:
    """[n, 10] random colour permutations; with keep_zero, colour 0 (background) stays 0."""
    if keep_zero:
        rest = torch.rand(n, N_COLOURS - 1, generator=generator).argsort(-1) + 1
        return torch.cat([torch.zeros(n, 1, dtype=torch.long), rest], 1)
    return torch.rand(n, N_COLOURS, generator=generator).argsort(-1)


def identity_perm(n: int, device=None) -> Tensor:
    return torch.arange(N_COLOURS, device=device).expand(n, N_COLOURS).clone()
