"""A reference forward with the original TOPAS's habits, over the same modules and weights, for comparison.

Habits reproduced (from the published analysis of the seed): EBR refinement on every item (the painter path
always runs to the end), an ``.item()`` per refinement step, md5 hashes of each item's grid on the host inside
the EBR loop (to detect repeats), and the dream tokens copied to the CPU every forward. The rails, painter and
energy network are the project's own, so only the habits differ.
"""
from __future__ import annotations

import hashlib

import torch

from topas_lit.modules.dsl.grid import inside, repad


@torch.no_grad()
def seed_style_forward(model, inputs: dict[str, torch.Tensor]):
    enc = model.encode(inputs)
    prior = model.op_prior(enc["latent"], enc["relmem_bias"])
    res = model.search(inputs, prior["step_logp"], prior["op_bias"])
    logits, size_logits = model.painter(enc["test_feats"], inputs["test_in"], enc["tokens"], enc["token_mask"],
                                        enc["latent"], inputs["test_in_size"])
    p_size = size_logits.argmax(-1) + 1
    ebr = model.ebr
    seen = [set() for _ in range(logits.shape[0])]
    with torch.enable_grad():
        z = logits.clone().requires_grad_(True)
        for _ in range(ebr.steps):
            e = ebr.energy(enc["test_feats"], z.softmax(-1), enc["latent"])
            (grad,) = torch.autograd.grad(e.sum(), z)
            z = (z - ebr.step_size * grad).detach().requires_grad_(True)
            energy_log = e.mean().item()                                    # .item() per refinement step
            grids = z.argmax(-1).cpu().numpy()                              # host hashing in the loop
            hashes = [hashlib.md5(g.tobytes()).hexdigest() for g in grids]
            if all(h in s for h, s in zip(hashes, seen)) and energy_log == energy_log:
                break
            for h, s in zip(hashes, seen):
                s.add(h)
    dream_cpu = torch.cat([enc["latent"], prior["op_bias"]], -1).cpu()      # dream tokens to the CPU
    p_grid = repad(z.argmax(-1), p_size)
    grid = torch.where(res.solved[:, None, None], res.cells, p_grid)
    return grid, dream_cpu, inside(p_size)
