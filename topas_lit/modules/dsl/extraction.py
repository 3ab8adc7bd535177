"""Extraction primitives: halves, compression (background or repeated rows and columns removed), crops of a
fitted colour or of the object a fitted criterion singles out, and the colour sequence of a grid.

Objects come from ``components.py`` (labelled once per state and shared by every primitive of an expansion).
The fitted crops choose their parameter (a colour, or a criterion such as "largest" or "top-most") per
candidate from the demos with ``fit_choice``: the first option whose crops reproduce every demo output, else the
first that gets every output size right (so the crop can feed a later step).
"""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.colour import register
from topas_lit.modules.dsl.components import Components, components, obj_box, pick
from topas_lit.modules.dsl.cropping import _crop, fitted_crop
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, bbox, coords, remap
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "extraction"


# ----------------------------------------------------------------------------------------------- halves
def _half(g: GridBatch, axis: int, second: bool):
    """The left/top (or right/bottom with ``second``) floor(n / 2) columns/rows; an odd middle line is dropped."""
    h, w = g.size[:, 0], g.size[:, 1]
    zero = torch.zeros_like(h)
    if axis == 1:
        return _crop(g, zero, w - w // 2 if second else zero, h, w // 2, w >= 2)
    return _crop(g, h - h // 2 if second else zero, zero, h // 2, w, h >= 2)


for _name, _axis, _second, _doc in (("half_left", 1, False, "The left half (an odd middle column dropped)."),
                                    ("half_right", 1, True, "The right half (an odd middle column dropped)."),
                                    ("half_top", 0, False, "The top half (an odd middle row dropped)."),
                                    ("half_bottom", 0, True, "The bottom half (an odd middle row dropped).")):
    def _fn(g: GridBatch, axis=_axis, second=_second):
        return _half(g, axis, second)

    _fn.__name__, _fn.__doc__ = _name, _doc
    register(_name, FAMILY)(_fn)


# ----------------------------------------------------------------------------------------------- compression
def select_lines(g: GridBatch, keep_rows: Tensor, keep_cols: Tensor):
    """The grid made of the kept rows and columns (``[N, s]`` bool, inside the grid), in order; ok where
    something was removed and something is left."""
    s = g.side
    idx = torch.arange(s, device=g.cells.device)
    src_r = torch.where(keep_rows, idx, s + idx).argsort(dim=1)        # kept lines first, in order
    src_c = torch.where(keep_cols, idx, s + idx).argsort(dim=1)
    size = torch.stack([keep_rows.sum(1), keep_cols.sum(1)], 1)
    rows, cols = coords(s, g.cells.device)
    take = (rows < size[:, 0, None, None]) & (cols < size[:, 1, None, None])
    out = remap(g.cells, src_r[:, :, None].expand(-1, s, s), src_c[:, None, :].expand(-1, s, s), take, PAD)
    return out, size, (size >= 1).all(1) & (size != g.size).any(1)


def _lines_inside(g: GridBatch) -> tuple[Tensor, Tensor]:
    idx = torch.arange(g.side, device=g.cells.device)
    return idx < g.size[:, :1], idx < g.size[:, 1:]


@register("compress_bg_lines", FAMILY)
def compress_bg_lines(g: GridBatch):
    """Remove every row and every column that holds only background."""
    fg = g.inside & (g.cells != BG)
    return select_lines(g, fg.any(2), fg.any(1))


@register("dedupe_lines", FAMILY)
def dedupe_lines(g: GridBatch):
    """Collapse runs of identical consecutive rows, and of identical consecutive columns, to one line each."""
    rin, cin = _lines_inside(g)
    first = torch.zeros_like(rin[:, :1])
    new_row = torch.cat([~first, (g.cells[:, 1:] != g.cells[:, :-1]).any(2)], 1)
    new_col = torch.cat([~first, (g.cells[:, :, 1:] != g.cells[:, :, :-1]).any(1)], 1)
    return select_lines(g, new_row & rin, new_col & cin)


# ----------------------------------------------------------------------------------------------- fitted crops
@register("crop_colour_fit", FAMILY, fitted=True)
def crop_colour_fit(g: GridBatch, demos: DemoTargets):
    """Crop the bounding box of all cells of a colour (1..9) fitted from the demos."""
    n, s = len(g), g.side
    colours = torch.arange(1, N_COLOURS, device=g.cells.device)                        # option k: colour k + 1
    mask = (g.cells[:, None] == colours[:, None, None]) & g.inside[:, None]           # [N, 9, s, s]
    top, left, h, w, nonempty = (x.view(n, -1) for x in bbox(mask.reshape(-1, s, s)))
    return fitted_crop(g, demos, top, left, h, w, nonempty)


def criteria(c: Components) -> list[tuple[Tensor, bool]]:
    """Object keys [N, s*s] and whether the maximum (True) or minimum is wanted: the ways a single object is
    picked (cells, box area, colours, top-, bottom-, left-, right-most, holes = box cells not in the object)."""
    area = c.height * c.width
    return [(c.count, True), (c.count, False), (area, True), (area, False), (c.ncol, True),
            (c.top, False), (c.bottom, True), (c.left, False), (c.right, True),
            (area - c.count, True), (area - c.count, False)]


def _crop_obj_fit(g: GridBatch, demos: DemoTargets, diag: bool, multi: bool):
    c = components(g, diag=diag, multi=multi)
    picked = [pick(c, key, largest) for key, largest in criteria(c)]
    labs, oks = torch.stack([p[0] for p in picked], 1), torch.stack([p[1] for p in picked], 1)   # [N, K]
    return fitted_crop(g, demos, *obj_box(c, labs), oks & (c.n_obj > 1)[:, None])


for _name, _diag, _multi, _what in (("crop_obj_fit", True, False, "8-connected one-colour objects"),
                                    ("crop_obj4_fit", False, False, "4-connected one-colour objects"),
                                    ("crop_multi_obj_fit", True, True, "8-connected multicolour objects")):
    def _fn(g: GridBatch, demos: DemoTargets, diag=_diag, multi=_multi):
        return _crop_obj_fit(g, demos, diag, multi)

    _fn.__name__ = _name
    _fn.__doc__ = (f"Crop the one object among the {_what} that a criterion fitted from the demos singles out "
                   "(most / fewest cells, largest / smallest box, most colours, top-, bottom-, left-, right-most, "
                   "most / fewest holes); ties are not ok.")
    register(_name, FAMILY, fitted=True)(_fn)


# ----------------------------------------------------------------------------------------------- colour sequence
def _colour_sequence(g: GridBatch, by_column: bool):
    """The distinct non-background colours in order of first appearance, reading columns left to right (a
    1 x k row) or rows top to bottom (a k x 1 column)."""
    s, n, dev = g.side, len(g), g.cells.device
    rows, cols = coords(s, dev)
    pos = (cols * s + rows) if by_column else (rows * s + cols)
    colours = torch.arange(N_COLOURS, device=dev)
    hit = (g.cells[:, None] == colours[None, :, None, None]) & g.inside[:, None]         # [N, 10, s, s]
    first = torch.where(hit, pos, s * s).flatten(2).amin(2)                              # [N, 10]
    first[:, BG] = s * s
    k = (first < s * s).sum(1)
    order = first.argsort(dim=1, stable=True)                                            # present colours first
    seq = torch.cat([order, order[:, :1].expand(n, max(0, s - N_COLOURS))], 1)[:, :s]
    line = torch.where(torch.arange(s, device=dev) < k[:, None], seq, PAD)               # [N, s]
    one = torch.ones_like(k)
    if by_column:
        cells = torch.where(rows == 0, line[:, None, :], PAD)
        return cells, torch.stack([one, k], 1), k >= 2
    cells = torch.where(cols == 0, line[:, :, None], PAD)
    return cells, torch.stack([k, one], 1), k >= 2


@register("colour_sequence_row", FAMILY)
def colour_sequence_row(g: GridBatch):
    """A 1 x k row of the grid's k non-background colours in order of first appearance from the left."""
    return _colour_sequence(g, True)


@register("colour_sequence_col", FAMILY)
def colour_sequence_col(g: GridBatch):
    """A k x 1 column of the grid's k non-background colours in order of first appearance from the top."""
    return _colour_sequence(g, False)
