"""Split primitives: grids made of two halves combined cell-wise, and grids divided into panels by separator lines.

Halves: left/right (or top/bottom) parts of equal size, split at a middle separator line (a full column/row of one
non-background colour) when the width is odd, else at the middle. Their non-background masks are combined with a
boolean op and the "on" cells take a colour fitted from the demos (``split_{lr,ud}_{and,or,xor,nor,diff}_fit``),
or the parts are overlaid (``split_{lr,ud}_overlay``: the first part wins where it is non-background).

Panels: separator lines are the full rows/columns of the one colour c whose cells all lie on full lines of c
(most lines wins; the background colour only where no other colour qualifies); panels are the blocks between
them. Without separators (or with fewer than two panels between them), a w = k*h (or h = k*w) grid is read as
k square blocks. Panels are indexed in reading order, k = a * C + b for row run a and column run b.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from topas_lit.modules.dsl.colour import fit_colour, register
from topas_lit.modules.dsl.grid import BG, N_COLOURS, PAD, coords, crop
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

RUNS = 16            # max panel runs per axis (30 cells hold at most 15)
MIN_LINE = 2         # shortest separator line (along a 1-cell axis every line would be "full")
OPS = {
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "nor": lambda a, b: ~(a | b),
    "diff": lambda a, b: a & ~b,
}


# ----------------------------------------------------------------------------------------------- halves
def halves(g: GridBatch, axis: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The two parts of each grid along ``axis`` (2: left/right, 1: top/bottom): (a, b, size, ok), parts at the
    top-left with PAD outside ``size``. ok False where the parts cannot be equal (odd length, no middle separator)."""

    def compute():
        n, dev, s = len(g), g.cells.device, g.side
        h, w = g.size[:, 0], g.size[:, 1]
        length = g.size[:, axis - 1]                      # w for lr, h for ud
        mid = length // 2
        line = g.cells.gather(axis, mid.view(n, 1, 1).expand(n, *((1, s) if axis == 1 else (s, 1))))
        line = line.view(n, s)
        inline = torch.arange(s, device=dev) < g.size[:, 2 - axis, None]   # cells of that middle line
        sep = ((line == line[:, :1]) | ~inline).all(1) & (line[:, 0] != BG)
        odd = length % 2 == 1
        ok = (odd & sep) | ~odd
        part = mid                                        # part length either way
        zero = torch.zeros_like(h)
        if axis == 2:
            a, size = crop(g.cells, zero, zero, h, part)
            b, _ = crop(g.cells, zero, length - part, h, part)
        else:
            a, size = crop(g.cells, zero, zero, part, w)
            b, _ = crop(g.cells, length - part, zero, part, w)
        return a, b, size, ok & (part >= 1)

    return g.cached(f"split.halves{axis}", compute)


def _combine(g: GridBatch, demos: DemoTargets, axis: int, op: str):
    a, b, size, ok = halves(g, axis)
    on = OPS[op](a != BG, b != BG) & (a != PAD)
    c, fit_ok = fit_colour(on, demos)
    return torch.where(on, c[:, None, None], torch.where(a != PAD, BG, PAD)), size, ok & fit_ok


def _register_combine(axis: int, side: str, op: str):
    name = f"split_{side}_{op}_fit"

    def fn(g: GridBatch, demos: DemoTargets):
        return _combine(g, demos, axis, op)

    fn.__name__ = name
    fn.__doc__ = (f"Split into {'left/right' if axis == 2 else 'top/bottom'} halves; cells where "
                  f"'{op}' of their non-background masks holds -> a fitted colour, others background.")
    register(name, "split", fitted=True)(fn)


for _axis, _side in ((2, "lr"), (1, "ud")):
    for _op in OPS:
        _register_combine(_axis, _side, _op)


@register("split_lr_overlay", "split")
def split_lr_overlay(g: GridBatch):
    """Overlay the left half on the right half (left wins where non-background)."""
    a, b, size, ok = halves(g, 2)
    return torch.where(a != BG, a, b), size, ok


@register("split_ud_overlay", "split")
def split_ud_overlay(g: GridBatch):
    """Overlay the top half on the bottom half (top wins where non-background)."""
    a, b, size, ok = halves(g, 1)
    return torch.where(a != BG, a, b), size, ok


# ----------------------------------------------------------------------------------------------- panels
@dataclass
class Panels:
    """Panel layout of each grid (all per grid; run tables [N, RUNS])."""

    n_rows: Tensor   # [N] panel rows R
    n_cols: Tensor   # [N] panel columns C
    rstart: Tensor   # [N, RUNS] first grid row of each panel row
    cstart: Tensor
    rlen: Tensor     # [N, RUNS] height of each panel row (0 past R)
    clen: Tensor
    rid: Tensor      # [N, s] panel row of each grid row (-1 on separators / outside)
    cid: Tensor
    equal: Tensor    # [N] bool: all panels have the same size
    valid: Tensor    # [N] bool: at least two panels

    @property
    def count(self) -> Tensor:
        return self.n_rows * self.n_cols

    def cell_panel(self) -> Tensor:
        """[N, s, s] panel index k = a * C + b of each cell (-1 off the panels; clamped below RUNS * RUNS so that
        an invalid layout never indexes out of range)."""
        a, b = self.rid[:, :, None], self.cid[:, None, :]
        k = (a * self.n_cols[:, None, None] + b).clamp(max=RUNS * RUNS - 1)
        return torch.where((a >= 0) & (b >= 0), k, -1)

    def window(self, k: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(top, left, h, w) of panel ``k [N]`` (clamped into range)."""
        c = self.n_cols.clamp(min=1)
        a = (k // c).clamp(0, RUNS - 1)[:, None]
        b = (k % c).clamp(0, RUNS - 1)[:, None]
        return (self.rstart.gather(1, a)[:, 0], self.cstart.gather(1, b)[:, 0],
                self.rlen.gather(1, a)[:, 0], self.clen.gather(1, b)[:, 0])


def _runs(nonsep: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Maximal runs of True along [N, s]: (count [N], start [N, RUNS], length [N, RUNS], id [N, s] or -1)."""
    n, dev, s = nonsep.shape[0], nonsep.device, nonsep.shape[1]
    prev = F.pad(nonsep, (1, 0), value=False)[:, :s]
    first = nonsep & ~prev
    rid = torch.where(nonsep, first.long().cumsum(1) - 1, -1)
    slot = torch.where(nonsep, rid, RUNS - 1).clamp(max=RUNS - 1)
    idx = torch.arange(s, device=dev).expand(n, s)
    start = torch.full((n, RUNS), s, dtype=torch.long, device=dev).scatter_reduce(
        1, slot, torch.where(nonsep, idx, s), "amin")
    length = torch.zeros(n, RUNS, dtype=torch.long, device=dev).scatter_add_(1, slot, nonsep.long())
    return first.sum(1), start.clamp(max=s - 1), length, rid


def _blocks(length: Tensor, block: Tensor, k: Tensor, s: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Runs of ``k`` equal blocks of ``block`` cells along an axis of ``length`` cells on an s x s canvas (same
    outputs as _runs)."""
    n, dev = length.shape[0], length.device
    j = torch.arange(RUNS, device=dev).expand(n, RUNS)
    i = torch.arange(s, device=dev).expand(n, s)
    side1 = block.clamp(min=1)[:, None]
    rid = torch.where(i < length[:, None], (i // side1).clamp(max=RUNS - 1), -1)
    return k, (j * side1).clamp(max=s - 1), torch.where(j < k[:, None], side1, 0), rid


def _full_line(g: GridBatch, dim: int) -> Tensor:
    """Per row (dim 2) / column (dim 1): its colour if all its inside cells hold one colour, else -1."""
    hi = torch.where(g.inside, g.cells, -1).amax(dim)
    lo = torch.where(g.inside, g.cells, PAD).amin(dim)
    return torch.where((hi == lo) & (hi >= 0) & (hi < N_COLOURS), hi, -1)


def panels(g: GridBatch) -> Panels:
    """Detect the panel layout (separator lines, else square blocks); cached per GridBatch."""

    def compute():
        n, dev, s = len(g), g.cells.device, g.side
        h, w = g.size[:, 0], g.size[:, 1]
        idx = torch.arange(s, device=dev)
        # full lines: inside cells all of one colour; their colour (-1 = not a full line)
        rowc = torch.where(w[:, None] >= MIN_LINE, _full_line(g, 2), -1)  # [N, 30]
        colc = torch.where(h[:, None] >= MIN_LINE, _full_line(g, 1), -1)
        covered = (g.cells == rowc[:, :, None]) | (g.cells == colc[:, None, :])
        cols = g.cells.view(n, s * s).clamp(max=N_COLOURS - 1)
        loose = torch.zeros(n, N_COLOURS, dtype=torch.long, device=dev).scatter_add_(   # cells off their lines
            1, cols, (g.inside & ~covered).view(n, s * s).long())
        both = torch.cat([rowc, colc], 1)
        lines = torch.zeros(n, N_COLOURS, dtype=torch.long, device=dev).scatter_add_(
            1, both.clamp(min=0), (both >= 0).long())
        # separator colour: every cell of it on its full lines; the background only if no other colour qualifies
        bonus = torch.where(torch.arange(N_COLOURS, device=dev) == BG, 0, s * s)
        score = torch.where((loose == 0) & (lines > 0), lines + bonus, 0)
        best = score.argmax(1, keepdim=True)
        has_sep = score.amax(1) > 0
        sepr, sepc = (rowc == best) & has_sep[:, None], (colc == best) & has_sep[:, None]
        nr, rstart, rlen, rid = _runs((idx < h[:, None]) & ~sepr)
        nc, cstart, clen, cid = _runs((idx < w[:, None]) & ~sepc)
        # square blocks where there is no separator: w = k*h or h = k*w
        wide, tall = (w % h == 0) & (w > h), (h % w == 0) & (h > w)
        one = torch.ones_like(h)
        bnr, brs, brl, brid = _blocks(h, torch.where(tall, w, h), torch.where(tall, h // w, one), s)
        bnc, bcs, bcl, bcid = _blocks(w, torch.where(wide, h, w), torch.where(wide, w // h, one), s)
        use = ~has_sep | (nr * nc < 2)
        sel = lambda x, y: torch.where(use.view(-1, *([1] * (x.dim() - 1))), y, x)  # noqa: E731
        nr, rstart, rlen, rid = sel(nr, bnr), sel(rstart, brs), sel(rlen, brl), sel(rid, brid)
        nc, cstart, clen, cid = sel(nc, bnc), sel(cstart, bcs), sel(clen, bcl), sel(cid, bcid)
        j = torch.arange(RUNS, device=dev)
        equal = (((rlen == rlen[:, :1]) | (j >= nr[:, None])).all(1)
                 & ((clen == clen[:, :1]) | (j >= nc[:, None])).all(1))
        valid = (nr * nc >= 2) & (~use | wide | tall) & (nr < RUNS) & (nc < RUNS)
        return Panels(nr, nc, rstart, cstart, rlen, clen, rid, cid, equal, valid)

    return g.cached("split.panels", compute)


def _panel_table(p: Panels, value: Tensor) -> Tensor:
    """Sum of ``value [N, s, s]`` over each panel: [N, RUNS * RUNS] indexed by k (entries past K are 0)."""
    n = value.shape[0]
    k = p.cell_panel()
    slot = torch.where(k >= 0, k, RUNS * RUNS).view(n, -1)
    tab = torch.zeros(n, RUNS * RUNS + 1, dtype=torch.long, device=value.device)
    return tab.scatter_add_(1, slot, value.reshape(n, -1).long())[:, :RUNS * RUNS]


def _select(g: GridBatch, p: Panels, k: Tensor, ok: Tensor):
    """Output panel ``k [N]``."""
    top, left, h, w = p.window(k)
    cells, size = crop(g.cells, top, left, h, w)
    return cells, size, ok & p.valid


def _offsets(g: GridBatch, p: Panels) -> Tensor:
    """[N, s, s] flat offset di * s + dj of each cell inside its own panel (junk off the panels)."""
    s = g.side
    rows, cols = coords(s, g.cells.device)
    di = rows - p.rstart.gather(1, p.rid.clamp(0, RUNS - 1))[:, :, None]
    dj = cols - p.cstart.gather(1, p.cid.clamp(0, RUNS - 1))[:, None, :]
    return (di * s + dj).clamp(0, s * s - 1)


def _odd(g: GridBatch, p: Panels) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The panel differing from all others while the others are identical, by content and by shape mask:
    (k_content, unique_content, k_mask, unique_mask), each [N]."""
    n, dev, s = len(g), g.cells.device, g.side
    k = p.cell_panel()
    on, off = k >= 0, _offsets(g, p)
    fg = g.cells != BG
    diffs = []
    for ref in range(3):  # panel k against panels 0, 1, 2 (equal sizes: same offsets)
        top, left, _, _ = p.window(torch.full((n,), ref, dtype=torch.long, device=dev))
        start = (top * s + left)[:, None, None]
        other = g.cells.view(n, s * s).gather(1, (start + off).clamp(max=s * s - 1).view(n, s * s)).view_as(off)
        diffs.append((_panel_table(p, (g.cells != other) & on) > 0, _panel_table(p, (fg != (other != BG)) & on) > 0))
    live = torch.arange(RUNS * RUNS, device=dev) < p.count[:, None]
    out = []
    for d0, d1, d2 in zip(*diffs):
        diff = torch.where(d1[:, :1], d2, d0) & live               # reference: panel 0 if 0 == 1, else panel 2
        out += [diff.long().argmax(1), (diff.sum(1) == 1) & (p.count >= 3) & p.equal]
    return tuple(out)


@register("panel_odd", "split")
def panel_odd(g: GridBatch):
    """The panel that differs from all the others (which are identical), by content, else by shape mask."""
    p = panels(g)
    k1, u1, k2, u2 = _odd(g, p)
    return _select(g, p, torch.where(u1, k1, k2), u1 | u2)


def _count_pick(g: GridBatch, largest: bool):
    p = panels(g)
    cnt = _panel_table(p, g.inside & (g.cells != BG))
    live = torch.arange(RUNS * RUNS, device=g.cells.device) < p.count[:, None]
    key = torch.where(live, cnt if largest else g.side ** 2 - cnt, -1)
    best = key.amax(1, keepdim=True)
    unique = (key == best).sum(1) == 1
    return _select(g, p, key.argmax(1), unique)


@register("panel_most", "split")
def panel_most(g: GridBatch):
    """The panel with the most non-background cells (unique maximum)."""
    return _count_pick(g, True)


@register("panel_least", "split")
def panel_least(g: GridBatch):
    """The panel with the fewest non-background cells (unique minimum)."""
    return _count_pick(g, False)


@register("panel_first", "split")
def panel_first(g: GridBatch):
    """The first panel (top-left)."""
    p = panels(g)
    return _select(g, p, torch.zeros_like(p.count), torch.ones_like(p.valid))


@register("panel_last", "split")
def panel_last(g: GridBatch):
    """The last panel (bottom-right)."""
    p = panels(g)
    return _select(g, p, p.count - 1, torch.ones_like(p.valid))


@register("panels_overlay", "split")
def panels_overlay(g: GridBatch):
    """Overlay all (equal-size) panels in reading order; the first non-background cell wins."""
    p = panels(g)
    n, dev, s = len(g), g.cells.device, g.side
    nc = s * s
    k = p.cell_panel().view(n, nc)
    off = _offsets(g, p).view(n, nc)
    paint = (k >= 0) & (g.cells.view(n, nc) != BG)
    first = torch.full((n, nc + 1), RUNS * RUNS, dtype=torch.long, device=dev)
    first = first.scatter_reduce(1, torch.where(paint, off, nc), torch.where(paint, k, RUNS * RUNS), "amin")
    win = paint & (k == first.gather(1, off))                           # one winner cell per offset
    out = torch.full((n, nc + 1), BG, dtype=g.cells.dtype, device=dev)
    out = out.scatter(1, torch.where(win, off, nc), g.cells.view(n, nc))[:, :nc].view(n, s, s)
    size = torch.stack([p.rlen[:, 0], p.clen[:, 0]], 1)
    return out, size, p.valid & p.equal


@register("panels_to_pixels", "split")
def panels_to_pixels(g: GridBatch):
    """An R x C grid holding each panel's most common colour (panels may differ in size)."""
    p = panels(g)
    n, dev, s = len(g), g.cells.device, g.side
    k = p.cell_panel()
    slot = torch.where(k >= 0, k * N_COLOURS + g.cells.clamp(max=N_COLOURS - 1), RUNS * RUNS * N_COLOURS)
    tab = torch.zeros(n, RUNS * RUNS * N_COLOURS + 1, dtype=torch.long, device=dev)
    tab = tab.scatter_add_(1, slot.view(n, s * s), torch.ones(n, s * s, dtype=torch.long, device=dev))
    colour = tab[:, :-1].view(n, RUNS * RUNS, N_COLOURS).argmax(2)                  # [N, RUNS*RUNS]
    rows, cols = coords(s, dev)
    k = (rows * p.n_cols[:, None, None] + cols).clamp(max=RUNS * RUNS - 1)
    size = torch.stack([p.n_rows, p.n_cols], 1)
    out = colour.gather(1, k.view(n, s * s)).view(n, s, s)
    return out, size, p.valid
