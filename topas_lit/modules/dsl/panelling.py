"""Panel primitives fitted per panel: every panel of a grid drawn from its fullest panel (the first of them), each turned by its own
transform (fitted per panel position from the demos) and painted in a fitted way."""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import changed, register
from topas_lit.modules.dsl.components import per_slot, same_size_all, target_cells
from topas_lit.modules.dsl.grid import BG, PAD
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch
from topas_lit.modules.dsl.split import _offsets, _panel_table, panels

FAMILY = "panelling"
MAX_PANELS = 16      # panels fitted per grid (positions 0..15 in reading order); more: not ok
N_TRANSFORMS = 8     # identity, flip lr, flip ud, rot 180, transpose, rot 90 cw, rot 90 ccw, anti-transpose
MODES = ("replace", "fill", "fill_separator")


def _source_offsets(di: Tensor, dj: Tensor, ph: Tensor, pw: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Where each of the 8 transforms reads the source panel from, for a cell at offset (di, dj) of a ph x pw panel
    (the last four transpose: square panels only)."""
    ri, rj = ph - 1 - di, pw - 1 - dj
    rti, rtj = pw - 1 - di, ph - 1 - dj          # square panels: ph == pw
    return [(di, dj), (di, rj), (ri, dj), (ri, rj), (dj, di), (rtj, di), (dj, rti), (rtj, rti)]


def transformed_copies(g: GridBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each cell of each panel read from the (first) fullest panel through each transform: (copies [N, 8, s, s], usable
    [N, 8]: the panel layout is equal and the transform fits the panel's shape, on [N, s, s]: the cell is on a panel,
    panel [N, s, s]: its position k, -1 off the panels)."""
    p = panels(g)
    n, s, dev = len(g), g.side, g.cells.device
    k = p.cell_panel()
    on = (k >= 0) & g.inside
    src = _panel_table(p, on & (g.cells != BG)).argmax(1)                        # the first fullest panel
    top, left, ph, pw = p.window(src)
    off = _offsets(g, p)
    di, dj = off // s, off % s
    ph, pw = ph[:, None, None], pw[:, None, None]
    flat = torch.stack([((top[:, None, None] + a) * s + left[:, None, None] + b).clamp(0, s * s - 1)
                        for a, b in _source_offsets(di, dj, ph, pw)], 1)          # [N, 8, s, s]
    copies = g.cells.reshape(n, 1, s * s).expand(n, N_TRANSFORMS, s * s).gather(2, flat.view(n, N_TRANSFORMS, -1))
    square = (ph == pw).view(n, 1) | (torch.arange(N_TRANSFORMS, device=dev) < 4)
    usable = square & (p.valid & p.equal & (p.count <= MAX_PANELS))[:, None]
    return copies.view(n, N_TRANSFORMS, s, s), usable, on, torch.where(on, k, -1)


def separator_colour(g: GridBatch, on: Tensor) -> Tensor:
    """[N] the colour of the inside cells off the panels (their largest id; the separators hold one colour)."""
    return torch.where(g.inside & ~on, g.cells.long(), -1).flatten(1).amax(1).clamp(min=0)


@register("panels_transformed_fit", FAMILY, fitted=True)
def panels_transformed_fit(g: GridBatch, demos: DemoTargets):
    """Every panel (equal panels) drawn from the fullest one through a transform fitted per panel position (one of
    the 8 dihedral transforms, turning only square panels), painted in a fitted mode: the copy replaces the panel,
    fills its background cells, or marks in the separator colour the background cells under the copy's
    non-background ones. A grid with a panel position no demo has is not ok."""
    copies, usable, on, k = transformed_copies(g)
    n, s = copies.shape[0], g.side
    m, gs = demos.has_target.shape
    cells = g.cells[:, None]
    bg = cells == BG
    on4 = on[:, None]
    sep = separator_colour(g, on)[:, None, None, None].to(g.cells.dtype)
    outs = [torch.where(on4, copies, cells),
            torch.where(on4 & bg, copies, cells),
            torch.where(on4 & bg & (copies != BG), sep, cells)]
    tgt, same = target_cells(g, demos)
    use = (same & demos.has_target.reshape(-1))[:, None, None]                   # [N, 1, 1]
    slot = torch.where((k >= 0) & (k < MAX_PANELS), k, MAX_PANELS).view(n, 1, s * s).expand(n, N_TRANSFORMS, -1)
    present = _panel_table(panels(g), on & use)[:, :MAX_PANELS] > 0              # [N, P]: demo panels with cells
    seen = present.view(m, gs, MAX_PANELS).any(1)                                 # [M, P]
    choice, fits = [], []
    for out in outs:
        wrong = (out != tgt[:, None]) & on4 & use[..., None] | ~usable[:, :, None, None] & on4
        miss = torch.zeros(n, N_TRANSFORMS, MAX_PANELS + 1, dtype=torch.int32, device=g.cells.device)
        miss = miss.scatter_add_(2, slot, wrong.view(n, N_TRANSFORMS, -1).int())[..., :MAX_PANELS]
        good = (miss.view(m, gs, N_TRANSFORMS, MAX_PANELS).sum(1) == 0) & seen[:, None]   # [M, 8, P]
        choice.append(good.int().argmax(1))                                       # [M, P]: first fitting transform
        fits.append((good.any(1) | ~seen).all(1) & seen.any(1))                  # [M]
    fits = torch.stack(fits, 1)                                                   # [M, 3]
    mode = fits.int().argmax(1)                                                   # first fitting mode
    t = torch.stack(choice, 1).gather(1, mode.view(m, 1, 1).expand(m, 1, MAX_PANELS))[:, 0]   # [M, P]
    t, mode = per_slot(t, gs), per_slot(mode, gs)
    t_cell = t.gather(1, k.clamp(0, MAX_PANELS - 1).view(n, -1)).view(n, 1, s, s)
    per_mode = [o.gather(1, t_cell)[:, 0] for o in outs]                         # each [N, s, s]
    mode = mode[:, None, None]
    out = torch.where(mode == 0, per_mode[0], torch.where(mode == 1, per_mode[1], per_mode[2]))
    panel_seen = per_slot(seen, gs).gather(1, k.clamp(0, MAX_PANELS - 1).view(n, -1)).view(n, s, s)
    ok = per_slot(fits.any(1), gs) & (panel_seen | ~on).flatten(1).all(1) & usable.any(1)
    ok = ok & same_size_all(g, demos) & (out != PAD).logical_or(~g.inside).flatten(1).all(1)
    return out, g.size, ok & changed(g.cells, out, demos.slots)
