"""SequenceDataModule: the sequence solver's training pairs (training split + evaluated tasks' demos) and tasks.

``setup`` loads the training split and the evaluated tasks, runs the contamination guard (a run whose training
tasks overlap the evaluated ones stops here, before any work, unless ``train.drop_overlap``), gives every task an
embedding row and builds the ``PairBank``. ``holdout: N`` instead evaluates N tasks held out of the training split
(a seeded draw; their test outputs stay with the evaluator, their demos join training when ``joint``): the
pseudo-evaluation to develop and tune on.

Training batches come from ``EpochBatches`` (indices and augmentation choices only); ``on_after_batch_transfer``
builds the token sequences on the device. Evaluation batches are whole tasks, one rank per task.
"""
from __future__ import annotations

import random

from lightning.pytorch import LightningDataModule
from torch.utils.data import Dataset

from topas_lit.data.composition import Composition, compose, training_pairs
from topas_lit.data.datamodule import ResumableLoader, task_loader
from topas_lit.data.pair_bank import EpochBatches, PairBank, build_batch
from topas_lit.data.tasks import TaskSet, load_taskset
from topas_lit.errors import ConfigError


class _Batches(Dataset):
    """Map-style stand-in whose item i is i itself: the sampler yields whole batches."""

    def __getitem__(self, batch: dict) -> dict:
        return batch


class SequenceDataModule(LightningDataModule):
    def __init__(self, train: dict, test: dict, joint: bool = True, holdout: int = 0, batch_size: int = 32,
                 bucket: int = 16, augment: bool = True, task_batch_size: int = 8, seed: int = 0,
                 max_length: int | None = None, path: str | None = None, solutions: str | None = None):
        """``train``: a task-set spec (load_taskset keys) plus ``drop_overlap``; ``test``: the evaluated tasks'
        spec; ``joint``: the evaluated tasks' demos train too (joint TTT); ``holdout``: evaluate N tasks held out
        of the training split instead of ``test``; ``max_length``: train only on pairs whose sequences are at most
        this long (small-compute runs; null: all, up to 1863 tokens)."""
        super().__init__()
        if batch_size < 1 or task_batch_size < 1 or holdout < 0:
            raise ConfigError(f"data.batch_size and data.task_batch_size must be >= 1 and data.holdout >= 0, got "
                              f"{batch_size}, {task_batch_size}, {holdout}")
        self.train_cfg, self.test_cfg = dict(train), dict(test)
        if path is not None:
            self.test_cfg["path"] = path
        if solutions is not None:
            self.test_cfg["solutions"] = solutions
        self.joint, self.holdout = joint, holdout
        self.batch_size, self.bucket, self.augment = batch_size, bucket, augment
        self.task_batch_size, self.seed, self.max_length = task_batch_size, seed, max_length
        self.composition: Composition | None = None
        self.test_set: TaskSet | None = None
        self.bank: PairBank | None = None
        self._bank_on: dict = {}
        self.train_sampler: EpochBatches | None = None
        self._sampler_state: dict | None = None

    # ---- what the run trains on ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.composition is not None:
            return
        spec = dict(self.train_cfg)
        drop = spec.pop("drop_overlap", False)
        train_set = load_taskset(**spec)
        if self.holdout:
            train_set, self.test_set = self._hold_out(train_set)
        else:
            self.test_set = load_taskset(**self.test_cfg)
        self.composition, train_set = compose(train_set, self.test_set.tasks, self.joint, drop)
        rows = self.composition.rows
        entries = [(rows[t.id], training_pairs(t, train_set.solutions), list(t.test_inputs))
                   for t in self.composition.train_tasks]
        entries += [(rows[t.id], list(t.demos), list(t.test_inputs)) for t in self.composition.joint_tasks]
        self.bank = PairBank.build(entries, self.max_length)

    def _hold_out(self, tasks: TaskSet) -> tuple[TaskSet, TaskSet]:
        order = list(range(len(tasks.tasks)))
        random.Random(self.seed).shuffle(order)
        held = set(order[: self.holdout])
        train, test = TaskSet(rejected=list(tasks.rejected)), TaskSet()
        for i, task in enumerate(tasks.tasks):
            (test if i in held else train).add(task, tasks.solutions.get(task.id))
        return train, test

    @property
    def task_ids(self) -> list[str]:
        return self.composition.task_ids

    # ---- training -----------------------------------------------------------------------------------------
    def train_dataloader(self):
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)
        self.train_sampler = EpochBatches(self.bank, self.batch_size, self.bucket, self.augment, self.seed, world, rank)
        if self._sampler_state is not None:
            self.train_sampler.load_state_dict(self._sampler_state)
            self._sampler_state = None
        return ResumableLoader(_Batches(), batch_size=None, sampler=self.train_sampler)

    def state_dict(self) -> dict:
        return {"train_sampler": self.train_sampler.state_dict()} if self.train_sampler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if "train_sampler" in state:
            self._sampler_state = dict(state["train_sampler"])

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training:
            self.train_sampler.consumed += 1
        return batch

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """A training batch (indices + augmentation choices) -> token sequences, on the batch's device."""
        if not (isinstance(batch, dict) and "idx" in batch):
            return batch
        dev = batch["idx"].device
        if dev not in self._bank_on:
            self._bank_on = {dev: self.bank.to(dev)}
        return build_batch(self._bank_on[dev], batch)

    # ---- evaluation ---------------------------------------------------------------------------------------
    def test_dataloader(self):
        return task_loader(self.test_set.tasks, self.task_batch_size, self.trainer)
