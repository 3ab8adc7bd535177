"""Safe checkpoint loading: tensors and plain containers only (``weights_only=True``), never pickled code."""
from __future__ import annotations

import torch
from torch import nn


def load_weights(module: nn.Module, path: str) -> dict:
    """Load a Lightning checkpoint's ``state_dict`` into ``module`` with ``torch.load(weights_only=True)``.

    A file that needs arbitrary unpickling (code objects, custom classes) is refused by torch with an
    ``UnpicklingError``; we re-raise it naming the file.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except torch.serialization.pickle.UnpicklingError as err:
        raise ValueError(f"refusing to load {path}: it is not a plain-tensor checkpoint ({err})") from None
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state_dict")
    module.load_state_dict(state)
    return ckpt
