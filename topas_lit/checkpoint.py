"""Safe checkpoint loading: tensors and plain containers only (``weights_only=True``), never pickled code.

Every checkpoint this project reads goes through ``torch.load(weights_only=True)``: ``load_weights`` for
``ckpt_path=...``, and ``read_checkpoint`` before a resume hands ``last.ckpt`` to Lightning (which is then also
told ``weights_only=True``). Torch's restricted unpickler refuses any global outside its allow-list (functions,
classes, ``__reduce__`` payloads) before calling it, so a malicious file is refused without running anything.
Our checkpoints hold only plain types: the module's hyperparameters are plain dicts (``run.build_module``
resolves the Hydra config into containers), the data loader, dream buffer and metric states are ints and tensors.
"""
from __future__ import annotations

import pickle

import torch
from torch import nn


def read_checkpoint(path: str) -> dict:
    """``torch.load(path, weights_only=True)`` on the CPU; a file that needs arbitrary unpickling raises
    ``ValueError`` naming the file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"refusing to load {path}: it is not a plain-tensor checkpoint ({err})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path} is not a checkpoint (a dict), got {type(ckpt).__name__}")
    return ckpt


def load_weights(module: nn.Module, path: str) -> dict:
    """Load a Lightning checkpoint's ``state_dict`` into ``module`` (see ``read_checkpoint``)."""
    ckpt = read_checkpoint(path)
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state_dict")
    module.load_state_dict(state)
    return ckpt
