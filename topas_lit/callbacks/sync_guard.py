"""No-CPU-transfer guard: flags every read of tensor values on the host inside the model's forward.

Two layers, so the guard works on any device, CPU included:
- a ``TorchFunctionMode`` catches the Python-level calls that move values to the host
  (``.item()``, ``.cpu()``, ``.tolist()``, ``.numpy()``, ``bool(t)``/``if t:``, ``int(t)``, ``torch.equal``, ``.to("cpu")``,
  and ``torch.tensor(python data)``, a blocking host-to-device copy on GPU);
- a ``TorchDispatchMode`` catches the aten ops that read values on the host whoever calls them
  (``_local_scalar_dense``, ``nonzero``, ``is_nonzero``, ``equal``, ``unique``, ``bincount``,
  ``repeat_interleave`` without ``output_size``, boolean-mask indexing, copies to the CPU from another device).
On CUDA it also sets ``torch.cuda.set_sync_debug_mode``. The error names the op and the line of Python that called it.
"""
from __future__ import annotations

import os
import traceback
import warnings
from contextlib import ExitStack

import torch
from lightning.pytorch import Callback
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

MODES = ("off", "warn", "error")

_HOST_METHODS = {"item", "cpu", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "equal"}
_HOST_OPS = {
    "aten::_local_scalar_dense", "aten::nonzero", "aten::nonzero_static", "aten::is_nonzero", "aten::equal",
    "aten::_unique", "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::bincount",
    "aten::masked_select", "aten::argwhere",
}
_THIS_FILE = os.path.abspath(__file__)
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


class HostReadError(Exception):
    """Raised when the guarded region reads tensor values on the host. Not a RuntimeError, so the per-task
    recovery of TTT (which catches RuntimeError) never hides it: a guarded run stops at the first host read."""


def _caller() -> str:
    """The innermost frame of user code (not torch, not this file): 'file:line in fn: code'."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        path = os.path.abspath(frame.filename)
        if path == _THIS_FILE or path.startswith(_TORCH_DIR):
            continue
        return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "<unknown>"


def _is_cpu(device) -> bool:
    return device is not None and torch.device(device).type == "cpu"


class _Reporter:
    def __init__(self, mode: str):
        self.mode = mode
        self.seen: list[str] = []

    def flag(self, op: str) -> None:
        msg = f"host read of tensor values: {op} at {_caller()}"
        self.seen.append(msg)
        if self.mode == "error":
            raise HostReadError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


class _FunctionLayer(TorchFunctionMode):
    def __init__(self, reporter: _Reporter):
        super().__init__()
        self.reporter = reporter

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _HOST_METHODS:
            self.reporter.flag(f"Tensor.{name}" if name != "equal" else "torch.equal")
        elif name == "to" and _to_targets_cpu(args[1:], kwargs):
            self.reporter.flag("Tensor.to(cpu)")
        elif name in ("tensor", "as_tensor") and args and not isinstance(args[0], torch.Tensor):
            self.reporter.flag(f"torch.{name} of Python data (a blocking host-to-device copy on GPU)")
        return func(*args, **kwargs)


def _to_targets_cpu(args, kwargs) -> bool:
    target = kwargs.get("device")
    if target is None and args and isinstance(args[0], (str, torch.device)):
        target = args[0]
    return _is_cpu(target)


class _DispatchLayer(TorchDispatchMode):
    def __init__(self, reporter: _Reporter):
        super().__init__()
        self.reporter = reporter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name
        if name in _HOST_OPS:
            self.reporter.flag(name)
        elif name == "aten::repeat_interleave" and kwargs.get("output_size") is None and len(args) < 3:
            self.reporter.flag("aten::repeat_interleave without output_size")
        elif name in ("aten::index", "aten::index_put", "aten::index_put_") and _has_bool_index(args[1]):
            self.reporter.flag(f"{name} with a boolean mask")
        elif name in ("aten::_to_copy", "aten::copy_") and _device_to_cpu(name, args, kwargs):
            self.reporter.flag(f"{name} to cpu")
        return func(*args, **kwargs)


def _has_bool_index(indices) -> bool:
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


def _device_to_cpu(name, args, kwargs) -> bool:
    if name == "aten::_to_copy":
        src, dst = args[0], kwargs.get("device")
    else:
        dst, src = args[0].device, args[1]
    return isinstance(src, torch.Tensor) and src.device.type != "cpu" and _is_cpu(dst)


class HostReadGuard:
    """Context manager: ``with HostReadGuard("error"): model(batch)`` raises on the first host read."""

    def __init__(self, mode: str = "error"):
        if mode not in MODES:
            raise ValueError(f"sync guard mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.reporter = _Reporter(mode)
        self._stack: ExitStack | None = None
        self._cuda_mode_before = 0

    @property
    def seen(self) -> list[str]:
        return self.reporter.seen

    def __enter__(self):
        if self.mode == "off":
            return self
        self._stack = ExitStack()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self._cuda_mode_before = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode(self.mode)
            self._stack.callback(torch.cuda.set_sync_debug_mode, self._cuda_mode_before)
        self._stack.enter_context(_FunctionLayer(self.reporter))
        self._stack.enter_context(_DispatchLayer(self.reporter))
        return self

    def __exit__(self, *exc):
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        return False


class NoCPUTransferGuard(Callback):
    """Scopes a ``HostReadGuard`` to the forward of ``pl_module.model`` (not Lightning's own loop), and to the
    forward of its search engine ``pl_module.model.search`` when it has one (evaluation runs the search on its own,
    outside the model's forward); nested calls share one guard.

    ``phases`` limits it to some of train/validate/test/predict; ``mode`` is off/warn/error.
    """

    def __init__(self, mode: str = "error", phases: tuple[str, ...] = ("train", "validate", "test", "predict")):
        if mode not in MODES:
            raise ValueError(f"callbacks.sync_guard.mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.phases = tuple(phases)
        self.flagged: list[str] = []
        self._handles = []
        self._active: HostReadGuard | None = None
        self._depth = 0

    def _attach(self, pl_module, phase: str) -> None:
        self._detach()
        if self.mode == "off" or phase not in self.phases:
            return
        model = pl_module.model
        search = getattr(model, "search", None)
        for m in [model] + ([search] if isinstance(search, torch.nn.Module) else []):
            self._handles += [m.register_forward_pre_hook(self._enter),
                              m.register_forward_hook(self._exit, always_call=True)]

    def _detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._depth = 0

    def _enter(self, module, args):
        self._depth += 1
        if self._depth == 1:
            self._active = HostReadGuard(self.mode).__enter__()

    def _exit(self, module, args, output):
        self._depth = max(0, self._depth - 1)
        if self._depth == 0 and self._active is not None:
            self._active.__exit__(None, None, None)
            self.flagged.extend(self._active.seen)
            self._active = None

    def on_train_start(self, trainer, pl_module):
        self._attach(pl_module, "train")

    def on_validation_start(self, trainer, pl_module):
        self._attach(pl_module, "validate")

    def on_validation_end(self, trainer, pl_module):
        if trainer.state.fn == "fit":
            self._attach(pl_module, "train")
        else:
            self._detach()

    def on_test_start(self, trainer, pl_module):
        self._attach(pl_module, "test")

    def on_predict_start(self, trainer, pl_module):
        self._attach(pl_module, "predict")

    def on_train_end(self, trainer, pl_module):
        self._detach()

    def on_test_end(self, trainer, pl_module):
        self._detach()

    def on_predict_end(self, trainer, pl_module):
        self._detach()
