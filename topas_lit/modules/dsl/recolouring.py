"""Recolouring primitives fitted on the demos: objects by their cell count, background regions by their size
class, and cells by their colour and the colours of their orthogonal and diagonal neighbours."""
from __future__ import annotations

from topas_lit.modules.dsl.colour import _local_map, register
from topas_lit.modules.dsl.components import bg_regions, components
from topas_lit.modules.dsl.objects import RANKS, _recolour_by, recolour_by_size_class
from topas_lit.modules.dsl.registry import DemoTargets, GridBatch

FAMILY = "recolouring"


for _name, _diag, _what in (("recolour_by_count_fit", True, "8-connected"), ("recolour_by_count4_fit", False,
                                                                             "4-connected")):
    def _fn(g: GridBatch, demos: DemoTargets, diag=_diag):
        c = components(g, diag=diag)
        return _recolour_by(g, demos, c, c.count.clamp(max=RANKS - 1), RANKS)

    _fn.__name__ = _name
    _fn.__doc__ = f"Recolour each {_what} one-colour object through a fitted cell count -> colour table."
    register(_name, FAMILY, fitted=True)(_fn)


@register("recolour_bg_regions_fit", FAMILY, fitted=True)
def recolour_bg_regions_fit(g: GridBatch, demos: DemoTargets):
    """Recolour the background regions (4-connected): the largest, the smallest and the others each by a colour
    fitted from the demos (background allowed: regions left as they are)."""
    return recolour_by_size_class(g, demos, bg_regions(g))


@register("local_map_colour44_fit", FAMILY, fitted=True)
def local_map_colour44_fit(g: GridBatch, demos: DemoTargets):
    """Fitted map (colour, the single non-background colour among the orthogonal neighbours, the same among the
    diagonal neighbours) -> colour: patterns stamped around pixels by their colour."""
    return _local_map(g, demos, "colour44")
