"""Quiet, readable console output for ``python train.py``: each log line once, no third-party deprecation noise.

- Lightning's ``lightning`` package logger has a console handler of its own and also propagates to the root
  logger, where Hydra's handlers (console + ``<run>/train.log``) print it again: ``quiet_output`` removes
  Lightning's console handlers so every line appears once, in Hydra's format and in the log file.
- Known deprecations raised inside third-party code the user cannot act on are filtered by message, category
  and module (never all warnings): torch's ``LeafSpec`` FutureWarning from Lightning's pytree helper, and
  Lightning's advertising tip for another logging product. Warnings from our own code still show.
- ``WandbLogger`` is Lightning's, minus the ``anonymous=None`` it always passes to ``wandb.init``, which
  wandb >= 0.22 answers with a "will be removed" warning on every run.
"""
from __future__ import annotations

import logging
import warnings

from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger

THIRD_PARTY_DEPRECATIONS = [
    # (message regex, category, module regex)
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"lightning\.pytorch\.utilities\._pytree"),
]
TIPS = ("💡 Tip:",)       # Lightning's product tips (rank_zero_info), not about this run


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(TIPS)


def filter_third_party_deprecations() -> None:
    for message, category, module in THIRD_PARTY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


def quiet_output() -> None:
    """Call once the logging of the entry point is set up (inside ``hydra.main``) and before Lightning logs."""
    filter_third_party_deprecations()
    lightning = logging.getLogger("lightning")
    for handler in list(lightning.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            lightning.removeHandler(handler)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        if logger.handlers and logging.getLogger().handlers:
            # Lightning added its own handler because it was imported before the root logger had one
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger without the deprecated ``anonymous`` setting (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
