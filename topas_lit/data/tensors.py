"""Host-side conversion between nested-list grids and padded tensors, and the batch collate."""
from __future__ import annotations

import torch
from torch import Tensor

from topas_lit.modules.dsl.grid import PAD, S


def pad_grids(grids: list[list[list[int]]], device=None) -> tuple[Tensor, Tensor]:
    """Nested-list grids -> (cells [N, 30, 30] long with PAD outside, size [N, 2] long)."""
    cells = torch.full((len(grids), S, S), PAD, dtype=torch.long)
    size = torch.zeros(len(grids), 2, dtype=torch.long)
    for n, g in enumerate(grids):
        t = torch.as_tensor(g, dtype=torch.long)
        cells[n, : t.shape[0], : t.shape[1]] = t
        size[n, 0], size[n, 1] = t.shape
    return cells.to(device), size.to(device)


def unpad_grids(cells: Tensor, size: Tensor) -> list[list[list[int]]]:
    """(cells, size) -> nested lists. One host transfer for the whole batch: call it at a batch's end."""
    cells, size = cells.cpu(), size.cpu()
    return [cells[n, : int(size[n, 0]), : int(size[n, 1])].tolist() for n in range(cells.shape[0])]


def encode_example(context: list[tuple[list, list]], query: list) -> dict[str, Tensor]:
    """One model input: context demo pairs and a query input, as padded tensors (no query output here)."""
    din, dins = pad_grids([p[0] for p in context])
    dout, douts = pad_grids([p[1] for p in context])
    qin, qins = pad_grids([query])
    return {"demo_in": din, "demo_in_size": dins, "demo_out": dout, "demo_out_size": douts,
            "test_in": qin[0], "test_in_size": qins[0]}


def encode_target(output: list) -> dict[str, Tensor]:
    cells, size = pad_grids([output])
    return {"test_out": cells[0], "test_out_size": size[0]}


def stack_inputs(examples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Batch model inputs whose demo counts differ: demos padded to the batch max with ``demo_mask``.

    Padded demo slots hold a 1x1 grid of colour 0 so that every slot is a valid grid.
    """
    d = max(e["demo_in"].shape[0] for e in examples)
    out: dict[str, list[Tensor]] = {k: [] for k in ("demo_in", "demo_in_size", "demo_out", "demo_out_size",
                                                    "demo_mask", "test_in", "test_in_size")}
    blank = torch.full((S, S), PAD, dtype=torch.long)
    blank[0, 0] = 0
    one = torch.ones(2, dtype=torch.long)
    for e in examples:
        n = e["demo_in"].shape[0]
        for key in ("demo_in", "demo_out"):
            out[key].append(torch.cat([e[key], blank.expand(d - n, S, S)]))
        for key in ("demo_in_size", "demo_out_size"):
            out[key].append(torch.cat([e[key], one.expand(d - n, 2)]))
        out["demo_mask"].append(torch.arange(d) < n)
        out["test_in"].append(e["test_in"])
        out["test_in_size"].append(e["test_in_size"])
    return {k: torch.stack(v) for k, v in out.items()}
