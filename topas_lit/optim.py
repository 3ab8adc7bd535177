"""Optimizers and learning-rate schedules of the sequence solver.

``NorMuonAdamW``: one optimizer with two kinds of parameter groups. The transformer blocks' weight matrices use
NorMuon (Muon: momentum orthogonalised by a Newton-Schulz iteration; then each output row rescaled by a running
second moment, keeping the update's norm), batched over matrices of the same shape; every other parameter
(embeddings, the painter head, norms) uses AdamW. ``adamw`` is plain AdamW on the same groups.

``wsd``: warmup, stable, decay (linear to ``floor``) as a function of training progress in [0, 1]; progress is
steps over planned steps, or training seconds over the time budget when the run is budgeted in minutes.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

NS_COEFFS = (3.4445, -4.7750, 2.0315)    # quintic Newton-Schulz coefficients (Muon)


def orthogonalise(g: Tensor, steps: int = 5) -> Tensor:
    """Approximate U V^T of each matrix in ``g [..., m, n]`` (bf16 Newton-Schulz)."""
    a, b, c = NS_COEFFS
    x = g.to(torch.bfloat16)
    tall = g.shape[-2] > g.shape[-1]
    if tall:
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        s = x @ x.mT
        x = a * x + (b * s + c * s @ s) @ x
    return (x.mT if tall else x).to(g.dtype)


def normuon_update(grad: Tensor, momentum: Tensor, second: Tensor, beta: float, beta2: float) -> Tensor:
    """The NorMuon step direction for stacked matrices [k, m, n] (updates the two state tensors in place)."""
    momentum.lerp_(grad, 1 - beta)
    u = orthogonalise(torch.lerp(grad, momentum, beta))                 # Nesterov
    norm = u.norm(dim=(-2, -1), keepdim=True)
    second.lerp_(u.square().mean(-1, keepdim=True), 1 - beta2)
    u = u / (second.sqrt() + 1e-10)
    u = u * (norm / (u.norm(dim=(-2, -1), keepdim=True) + 1e-10))
    return u * max(1.0, grad.shape[-2] / grad.shape[-1]) ** 0.5


class NorMuonAdamW(torch.optim.Optimizer):
    def __init__(self, groups: list[dict], lr: float = 1e-3, momentum: float = 0.95, beta2: float = 0.95,
                 betas=(0.9, 0.95), eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(groups, dict(lr=lr, momentum=momentum, beta2=beta2, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, muon=False))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if group["muon"]:
                self._muon(group, params)
            else:
                self._adamw(group, params)
        return loss

    def _muon(self, group: dict, params: list[Tensor]) -> None:
        by_shape: dict[tuple, list[Tensor]] = {}
        for p in params:
            by_shape.setdefault(tuple(p.shape), []).append(p)
        lr, wd = group["lr"], group["weight_decay"]
        for same in by_shape.values():
            for p in same:
                st = self.state[p]
                if not st:
                    st["momentum"] = torch.zeros_like(p)
                    st["second"] = torch.zeros_like(p[..., :1])
            grad = torch.stack([p.grad for p in same])
            mom = torch.stack([self.state[p]["momentum"] for p in same])
            sec = torch.stack([self.state[p]["second"] for p in same])
            upd = normuon_update(grad, mom, sec, group["momentum"], group["beta2"])
            for i, p in enumerate(same):
                self.state[p]["momentum"].copy_(mom[i])
                self.state[p]["second"].copy_(sec[i])
            if wd:
                torch._foreach_mul_(same, 1 - lr * wd)
            torch._foreach_add_(same, list(upd.unbind(0)), alpha=-lr)

    def _adamw(self, group: dict, params: list[Tensor]) -> None:
        b1, b2 = group["betas"]
        for p in params:
            st = self.state[p]
            if not st:
                st["step"] = 0                  # a host int: no device read to bias-correct
                st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
            st["step"] += 1
        n = self.state[params[0]]["step"]
        m, v = [self.state[p]["m"] for p in params], [self.state[p]["v"] for p in params]
        grads = [p.grad for p in params]
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, (1 - b2 ** n) ** 0.5)
        torch._foreach_add_(denom, group["eps"])
        if group["weight_decay"]:
            torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
        torch._foreach_addcdiv_(params, m, denom, value=-group["lr"] / (1 - b1 ** n))


def param_groups(model: nn.Module, cfg: dict) -> list[dict]:
    """Groups by role: block matrices (NorMuon when ``cfg.name == normuon``; attention with its own weight decay),
    embeddings, everything else. Norm scales get no weight decay."""
    muon = cfg["name"] == "normuon"
    groups = {"attention": [], "mlp": [], "embeddings": [], "other": [], "norms": []}
    for name, p in model.named_parameters():
        if name.startswith("core.blocks") and p.dim() == 2:
            groups["attention" if ".attn." in name else "mlp"].append(p)
        elif "emb" in name or name.startswith(("encoder.", "slots.")):
            groups["embeddings"].append(p)
        elif p.dim() < 2:
            groups["norms"].append(p)
        else:
            groups["other"].append(p)
    matrix_lr = cfg["muon_lr"] if muon else cfg["lr"]
    spec = {"attention": (matrix_lr, cfg["attention_weight_decay"], muon),
            "mlp": (matrix_lr, cfg["weight_decay"], muon),
            "embeddings": (cfg["lr"], cfg["embedding_weight_decay"], False),
            "other": (cfg["lr"], cfg["weight_decay"], False),
            "norms": (cfg["lr"], 0.0, False)}
    return [{"params": ps, "lr": spec[k][0], "weight_decay": spec[k][1], "muon": spec[k][2], "name": k}
            for k, ps in groups.items() if ps]


def build_optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    if cfg["name"] not in ("normuon", "adamw"):
        raise ValueError(f"module.optim.name must be 'normuon' or 'adamw', got {cfg['name']!r}")
    groups = param_groups(model, cfg)
    if cfg["name"] == "adamw":
        return torch.optim.AdamW([{k: v for k, v in g.items() if k != "muon"} for g in groups],
                                 betas=tuple(cfg["betas"]), eps=1e-8)
    return NorMuonAdamW(groups, momentum=cfg["momentum"], beta2=cfg["beta2"], betas=tuple(cfg["betas"]))


def wsd(progress: float, warmup: float, decay_start: float, floor: float = 0.0) -> float:
    """Learning-rate factor at ``progress`` in [0, 1]: linear warmup to 1 over ``warmup``, 1 until
    ``decay_start``, then linear down to ``floor`` at 1."""
    p = min(max(progress, 0.0), 1.0)
    if p < warmup:
        return max(p, 1e-3) / warmup
    if p < decay_start:
        return 1.0
    return floor + (1.0 - floor) * (1.0 - p) / max(1e-9, 1.0 - decay_start)
