"""Per-task test-time training, several tasks at once: each task adapts its own copy of the chosen parameters.

The task copies are stacked on a leading task dimension and trained together with ``torch.func.vmap`` over a
functional call of the model (``grad_and_value`` of the leave-one-out loss; a single task skips vmap), with a
functional AdamW on the stacks. Each task sees the same batches (its own seeded generator) whether it adapts
alone or with others, and gets the same gradients up to float rounding: batching changes the speed, not what a
task learns. Nothing here touches the live weights: ``load`` copies one task's adapted values in place, and the
caller restores the snapshot afterwards.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, grad_and_value, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from topas_lit.capture import pad_inputs
from topas_lit.data.augment import augment, random_perm
from topas_lit.data.tasks import Task
from topas_lit.data.tensors import encode_example, encode_target, stack_inputs
from topas_lit.modules.dsl.grid import N_COLOURS, PAD, S
from topas_lit.modules.topas import TopasModel


def loo_batch(demos: list, n: int, gen: torch.Generator, augment_items: bool) -> dict:
    """n leave-one-out items from one task's demos, each with a random dihedral/colour augmentation."""
    items_in, items_t = [], []
    for _ in range(n):
        j = int(torch.randint(len(demos), (1,), generator=gen))
        context = [p for i, p in enumerate(demos) if i != j]
        items_in.append(encode_example(context, demos[j][0]))
        items_t.append(encode_target(demos[j][1]))
    inputs = stack_inputs(items_in)
    targets = {k: torch.stack([t[k] for t in items_t]) for k in items_t[0]}
    if augment_items:
        k = torch.randint(0, 8, (n,), generator=gen)
        perm = random_perm(n, gen, keep_zero=True)
        inputs = augment_inputs(inputs, k, perm)
        targets["test_out"], targets["test_out_size"] = augment(targets["test_out"], targets["test_out_size"], k, perm)
    return {"inputs": inputs, "targets": targets}


def augment_inputs(inputs: dict[str, Tensor], k: Tensor, perm: Tensor) -> dict[str, Tensor]:
    """Apply per-item (k, perm) to every grid of the items: demos and test input alike."""
    b, d = inputs["demo_mask"].shape
    kd = k.repeat_interleave(d, output_size=b * d)
    pd = perm.repeat_interleave(d, 0, output_size=b * d)
    out = dict(inputs)
    for key in ("demo_in", "demo_out"):
        cells, size = augment(inputs[key].flatten(0, 1), inputs[key + "_size"].flatten(0, 1), kd, pd)
        out[key], out[key + "_size"] = cells.view(b, d, S, S), size.view(b, d, 2)
    out["test_in"], out["test_in_size"] = augment(inputs["test_in"], inputs["test_in_size"], k, perm)
    return out


def ttt_loss(out, targets: dict[str, Tensor]) -> Tensor:
    """Painter cells + output size, as in pretraining."""
    cells = F.cross_entropy(out.logits.reshape(-1, N_COLOURS), targets["test_out"].reshape(-1), ignore_index=PAD)
    size = F.cross_entropy(out.extras["size_logits"].reshape(-1, S), (targets["test_out_size"] - 1).reshape(-1))
    return cells + size


class TaskAdapter:
    def __init__(self, model: TopasModel, modules, steps: int, lr: float, weight_decay: float, batch_size: int,
                 augment: bool, seed: int, max_demos: int, betas=(0.9, 0.999), eps: float = 1e-8):
        if steps < 0 or batch_size < 1:
            raise ValueError(f"ttt.steps must be >= 0 and ttt.batch_size >= 1, got {steps}, {batch_size}")
        self.model, self.steps, self.lr, self.wd = model, steps, lr, weight_decay
        self.batch_size, self.augment, self.seed, self.max_demos = batch_size, augment, seed, max_demos
        self.betas, self.eps = betas, eps
        named = dict(model.named_parameters())
        if modules == "all":
            self.names = list(named)
        else:
            unknown = [m for m in modules if not any(n.startswith(m + ".") for n in named)]
            if unknown:
                raise ValueError(f"ttt.modules names no module of the model: {unknown}")
            self.names = [n for n in named if any(n.startswith(m + ".") for m in modules)]
        self.params = {n: named[n] for n in self.names}

    @classmethod
    def from_config(cls, model: TopasModel, ttt: Mapping, max_demos: int) -> "TaskAdapter":
        """From the ``module.ttt`` config; ``max_demos``: the training context size (data.max_train_demos)."""
        return cls(model, ttt["modules"], ttt["steps"], ttt["lr"], ttt["weight_decay"], ttt["batch_size"],
                   ttt["augment"], ttt["seed"], max_demos)

    def adaptable(self, task: Task) -> bool:
        return len(task.demos) >= 2

    def _loss(self, params: dict[str, Tensor], inputs: dict[str, Tensor], targets: dict[str, Tensor]) -> Tensor:
        out = functional_call(self.model, params, (inputs,), {"rails": False}, strict=False)
        return ttt_loss(out, targets)

    def step_fn(self, t_n: int):
        """(stacked params, stacked inputs, stacked targets) -> (stacked grads, losses [T]). Several tasks: vmap
        over the task dimension, with the math SDPA kernel (it has batching rules). One task: a plain
        ``grad_and_value`` on the squeezed stacks, free of vmap's per-op cost and with any SDPA kernel."""
        if t_n > 1:
            vmapped = vmap(grad_and_value(self._loss))

            def step(params, inputs, targets):
                with sdpa_kernel(SDPBackend.MATH):
                    return vmapped(params, inputs, targets)
            return step
        plain = grad_and_value(self._loss)

        def step(params, inputs, targets):
            grads, loss = plain({n: v[0] for n, v in params.items()}, {k: v[0] for k, v in inputs.items()},
                                {k: v[0] for k, v in targets.items()})
            return {n: g[None] for n, g in grads.items()}, loss[None]
        return step

    def adapt(self, tasks: list[Task], device) -> tuple[dict[str, Tensor], Tensor]:
        """Adapt one copy of the parameters per task. -> (stacked params [T, ...] by name, final losses [T])."""
        t_n = len(tasks)
        with torch.no_grad():
            stacked = {n: p[None].repeat(t_n, *([1] * p.dim())) for n, p in self.params.items()}
        m = {n: torch.zeros_like(v) for n, v in stacked.items()}
        v2 = {n: torch.zeros_like(v) for n, v in stacked.items()}
        gens = [torch.Generator().manual_seed(self.seed) for _ in tasks]
        demos = [list(t.demos)[: self.max_demos] for t in tasks]
        step_fn = self.step_fn(t_n)
        b1, b2 = self.betas
        losses = torch.zeros(t_n, device=device)
        gate = self.model.ebr.gate
        self.model.ebr.set_gate("never")            # the TTT loss reads the painter's logits, not EBR's
        self.model.train()
        try:
            for step in range(1, self.steps + 1):
                batches = [loo_batch(d, self.batch_size, g, self.augment) for d, g in zip(demos, gens)]
                width = max(b["inputs"]["demo_mask"].shape[1] for b in batches)
                inputs = {k: torch.stack([pad_inputs(b["inputs"], self.batch_size, width)[k] for b in batches]).to(device)
                          for k in batches[0]["inputs"]}
                targets = {k: torch.stack([b["targets"][k] for b in batches]).to(device) for k in batches[0]["targets"]}
                # fp32 (autocast off): its casts break the backward of vmapped linear/softmax (dtype mismatch),
                # and a task learns the same whether it adapts alone or with others
                with torch.enable_grad(), torch.autocast(torch.device(device).type, enabled=False):
                    grads, losses = step_fn(stacked, inputs, targets)
                with torch.no_grad():                                      # AdamW on the stacks, per task
                    for n in stacked:
                        g = grads[n]
                        m[n].mul_(b1).add_(g, alpha=1 - b1)
                        v2[n].mul_(b2).addcmul_(g, g, value=1 - b2)
                        denom = (v2[n] / (1 - b2 ** step)).sqrt_().add_(self.eps)
                        stacked[n].mul_(1 - self.lr * self.wd).addcdiv_(m[n], denom, value=-self.lr / (1 - b1 ** step))
        finally:
            self.model.eval()
            self.model.ebr.set_gate(gate)
        return stacked, losses

    @torch.no_grad()
    def load(self, stacked: dict[str, Tensor], t: int) -> None:
        """Copy task t's adapted values into the live parameters, in place (nothing leaves the device)."""
        for n, p in self.params.items():
            p.copy_(stacked[n][t])
