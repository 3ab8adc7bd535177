"""ARCDataModule: leave-one-out training items with augmentation, and evaluation tasks without their answers.

Training/validation item: the demos of a task minus one (context) and the held-out demo (query + target).
Evaluation item: a whole task (all its test inputs); its test outputs stay in ``TaskSet.solutions`` with the
evaluator and never enter a batch.

Training order and augmentation depend only on (seed, epoch, item index), never on a global RNG stream, and the
training loader is resumable: its position (items consumed this epoch) goes into every checkpoint, and a run
resumed mid-epoch continues with exactly the batches the interrupted run had not yet trained on.

Program targets (``program_targets``): none, a JSON file of them (``scripts/distill_policy.py`` writes one), or
``search``: at setup the search (the run's rail settings) runs over the fit tasks and gives each task whose first
answer is right on all its public test outputs its program (``topas_lit/search/targets.py``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from pathlib import Path

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from topas_lit.data.augment import augment, identity_perm, random_perm
from topas_lit.data.composition import check_overlap
from topas_lit.data.tasks import Task, TaskSet, load_taskset
from topas_lit.data.tensors import encode_example, encode_target, stack_inputs
from topas_lit.modules.dsl import OP_NAMES
from topas_lit.modules.dsl.search import RAILS
from topas_lit.search.source import build_source
from topas_lit.search.targets import find_programs

log = logging.getLogger(__name__)

SEARCH = "search"                       # data.program_targets=search: the datamodule searches for its targets
TARGETS_FILE = "program_targets.json"   # where it writes them, in the run folder


class LeaveOneOut(Dataset):
    """One item per (task, held-out demo), for tasks with >= 2 demos; optional random augmentation.

    With ``programs`` ({task id: {"program": [op names], "rail": name} or {"program": None}}), items also carry
    the program that search verified on the task (policy distillation target) where the item is not
    geometrically transformed (programs do not commute with rotations), and the rail that answered.
    """

    def __init__(self, tasks: list[Task], max_demos: int, augment: bool, keep_zero: bool = True,
                 programs: dict | None = None, depth: int = 2, seed: int = 0):
        self.tasks, self.max_demos, self.augment, self.keep_zero = tasks, max_demos, augment, keep_zero
        self.index = [(t, j) for t, task in enumerate(tasks) if len(task.demos) >= 2 for j in range(len(task.demos))]
        self.programs, self.depth, self.seed = programs or {}, depth, seed

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """``key``: an item index (epoch 0), or ``(epoch, index)`` as ``EpochSampler`` yields; the augmentation is
        drawn from a generator seeded by (seed, epoch, index), so it does not depend on what ran before."""
        epoch, i = key if isinstance(key, tuple) else (0, key)
        t, j = self.index[i]
        task = self.tasks[t]
        context = [p for n, p in enumerate(task.demos) if n != j][: self.max_demos]
        query_in, query_out = task.demos[j]
        ex, tgt = encode_example(context, query_in), encode_target(query_out)
        k = torch.zeros(1, dtype=torch.long)
        perm = identity_perm(1)
        if self.augment:
            gen = torch.Generator().manual_seed(item_seed(self.seed, epoch, i))
            k = torch.randint(0, 8, (1,), generator=gen)
            perm = random_perm(1, gen, self.keep_zero)
            ex, tgt = _augment_example(ex, tgt, k, perm)
        tgt.update(self._program_target(task.id, bool(k[0] == 0)))
        return {"inputs": ex, "targets": tgt, "task_id": task.id}

    def _program_target(self, task_id: str, untransformed: bool) -> dict:
        prog = torch.zeros(self.depth, dtype=torch.long)
        entry = self.programs.get(task_id)
        has_prog = entry is not None and entry["program"] is not None and untransformed
        if has_prog:
            ids = [OP_NAMES.index(name) for name in entry["program"]][: self.depth]
            prog[: len(ids)] = torch.tensor(ids)
        rail = RAILS.index(entry["rail"]) if entry is not None and entry["program"] is not None else RAILS.index("painter")
        return {"program": prog, "program_mask": torch.tensor(has_prog),
                "rail": torch.tensor(rail), "rail_mask": torch.tensor(entry is not None)}


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed that depends on (seed, epoch, index) only (stable across processes and Python versions)."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class EpochSampler(DistributedSampler):
    """Training order from (seed, epoch) only, split across ranks, resumable mid-epoch.

    Yields ``(epoch, index)`` pairs (the dataset seeds each item's augmentation from them). ``consumed`` counts
    this rank's items the training loop has taken this epoch (``ARCDataModule.on_before_batch_transfer`` adds
    each batch when the loop takes it, so batches prefetched but not trained on do not count); a new iterator
    starts after them. Lightning calls ``set_epoch`` at each epoch start, which starts the count again.
    """

    def __init__(self, dataset: Dataset, seed: int, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.consumed = 0

    def __iter__(self):
        epoch, start = self.epoch, self.consumed
        order = list(super().__iter__())
        return iter([(epoch, i) for i in order[start:]])

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.consumed = 0
        super().set_epoch(epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "consumed": self.consumed, "seed": self.seed, "num_replicas": self.num_replicas}

    def load_state_dict(self, state: dict) -> None:
        if (state["seed"], state["num_replicas"]) != (self.seed, self.num_replicas):
            raise ValueError(f"the checkpoint's training order was drawn with seed {state['seed']} on "
                             f"{state['num_replicas']} process(es); this run has seed {self.seed} on "
                             f"{self.num_replicas}: resume with the same seed and devices")
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])


class ResumableLoader(DataLoader):
    """A DataLoader with a position (its sampler's state) that Lightning saves in checkpoints and restores on resume
    when its loops build the loader after the restore; ``ARCDataModule.state_dict`` carries the same position for
    the other order (see there)."""

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def _augment_example(ex: dict, tgt: dict, k, perm) -> tuple[dict, dict]:
    d = ex["demo_in"].shape[0]
    kd, pd = k.expand(d), perm.expand(d, -1)
    out = dict(ex)
    out["demo_in"], out["demo_in_size"] = augment(ex["demo_in"], ex["demo_in_size"], kd, pd)
    out["demo_out"], out["demo_out_size"] = augment(ex["demo_out"], ex["demo_out_size"], kd, pd)
    ti, tis = augment(ex["test_in"][None], ex["test_in_size"][None], k, perm)
    out["test_in"], out["test_in_size"] = ti[0], tis[0]
    to, tos = augment(tgt["test_out"][None], tgt["test_out_size"][None], k, perm)
    return out, {"test_out": to[0], "test_out_size": tos[0]}


def collate_items(items: list[dict]) -> dict:
    targets = {k: torch.stack([it["targets"][k] for it in items]) for k in items[0]["targets"]}
    return {"inputs": stack_inputs([it["inputs"] for it in items]), "targets": targets,
            "task_id": [it["task_id"] for it in items]}


class TaskBatch:
    """A batch of whole evaluation tasks (plain object: Lightning moves no tensors in it)."""

    def __init__(self, tasks: list[Task]):
        self.tasks = tasks

    def __len__(self) -> int:
        return len(self.tasks)


class TaskList(Dataset):
    def __init__(self, tasks: list[Task]):
        self.tasks = tasks

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, i: int) -> Task:
        return self.tasks[i]


class ARCDataModule(LightningDataModule):
    def __init__(self, train: dict, test: dict, val_fraction: float = 0.1, batch_size: int = 16,
                 task_batch_size: int = 1, max_demos: int = 10, max_train_demos: int = 3, num_workers: int = 0, augment: bool = True,
                 keep_zero: bool = True, program_targets: str | None = None, depth: int = 2, seed: int = 0,
                 path: str | None = None, solutions: str | None = None, rail: dict | None = None,
                 out_dir: str | None = None):
        """``path``/``solutions``: the folder or Kaggle file (and its solutions) for ``data=folder|kaggle``.
        ``program_targets``: None, a JSON file of targets, or ``"search"`` (the search with the settings ``rail``
        finds them at setup; they are written to ``out_dir``/program_targets.json when ``out_dir`` is given)."""
        super().__init__()
        if program_targets == SEARCH and rail is None:
            raise ValueError("data.program_targets=search needs the search settings: data.rail (e.g. ${rail})")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        if batch_size < 1 or task_batch_size < 1:
            raise ValueError(f"data.batch_size and data.task_batch_size must be >= 1, got {batch_size}, {task_batch_size}")
        self.train_cfg, self.test_cfg = dict(train), dict(test)
        if path is not None:
            self.test_cfg["path"] = path
        if solutions is not None:
            self.test_cfg["solutions"] = solutions
        self.val_fraction, self.batch_size, self.task_batch_size = val_fraction, batch_size, task_batch_size
        self.max_demos, self.max_train_demos = max_demos, max_train_demos
        self.num_workers, self.augment, self.keep_zero = num_workers, augment, keep_zero
        self.program_targets, self.depth, self.seed = program_targets, depth, seed
        self.rail, self.out_dir = rail, out_dir
        self.programs: dict | None = None          # the targets found by the search (program_targets=search)
        self.train_set: TaskSet | None = None
        self.train_sampler: EpochSampler | None = None
        self._sampler_state: dict | None = None    # a checkpoint's loader position, for the next train loader
        self.test_set: TaskSet | None = None

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            spec = dict(self.train_cfg)
            drop = spec.pop("drop_overlap", False)
            # the contamination guard: training tasks that overlap the evaluated ones stop the run here
            self.test_set = self.test_set or load_taskset(**self.test_cfg)
            self.train_set = check_overlap(load_taskset(**spec), self.test_set.tasks, drop)
            tasks = list(self.train_set.tasks)
            random.Random(self.seed).shuffle(tasks)
            n_val = int(len(tasks) * self.val_fraction)
            self.val_tasks, self.fit_tasks = tasks[:n_val], tasks[n_val:]
            if self.program_targets == SEARCH:
                self.programs = self.search_programs()
        if stage in (None, "test", "predict") and self.test_set is None:
            self.test_set = load_taskset(**self.test_cfg)

    def search_device(self) -> torch.device:
        """Where the target search runs: the trainer's device once a trainer is attached (``run.py`` attaches it
        before setting up the data, so under DDP each rank uses its own GPU), else the GPU when one is available,
        else the CPU."""
        if self.trainer is not None:
            return self.trainer.strategy.root_device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def search_programs(self) -> dict:
        """The program targets of the fit tasks (never the validation or evaluated tasks), found by the search.
        Under DDP every rank runs the same deterministic search on its own device (rank 0 writes the file)."""
        start = time.perf_counter()
        source = build_source(OmegaConf.create(self.rail), self.search_device(), name="targets")
        found = find_programs(self.fit_tasks, self.train_set.solutions, source)
        n = sum(entry["program"] is not None for entry in found.values())
        where = write_targets(found, Path(self.out_dir) / TARGETS_FILE) if self.out_dir is not None else None
        log.info(f"program targets: search found {n}/{len(found)} fit tasks in {time.perf_counter() - start:.1f} s "
                 f"on {source.device}" + (f" -> {where}" if where else ""))
        return found

    def _programs(self) -> dict | None:
        if self.program_targets is None:
            return None
        if self.program_targets == SEARCH:
            return self.programs
        with open(self.program_targets) as f:
            return json.load(f)

    def train_dataloader(self):
        ds = LeaveOneOut(self.fit_tasks, self.max_train_demos, self.augment, self.keep_zero, self._programs(), self.depth,
                         self.seed)
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)
        self.train_sampler = EpochSampler(ds, self.seed, world, rank)
        if self._sampler_state is not None:
            self.train_sampler.load_state_dict(self._sampler_state)
            self._sampler_state = None
        # the loader's own generator: creating its iterator draws no number from the global RNG stream
        return ResumableLoader(ds, self.batch_size, sampler=self.train_sampler, collate_fn=collate_items,
                               num_workers=self.num_workers,
                               drop_last=self.train_sampler.num_samples > self.batch_size,
                               generator=torch.Generator().manual_seed(self.seed))

    def state_dict(self) -> dict:
        """The training loader's position, in every checkpoint. Needed besides Lightning's own copy of the loader's
        state: ``configure_optimizers`` reads ``trainer.estimated_stepping_batches``, which builds the train loader
        before the loops are restored, and Lightning then never hands that loader its saved state. The datamodule
        is restored first, so its state reaches the sampler when the loader is built."""
        return {"train_sampler": self.train_sampler.state_dict()} if self.train_sampler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if "train_sampler" in state:
            self._sampler_state = dict(state["train_sampler"])

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """The training loop takes a batch: count its items as consumed (the loader's resume position)."""
        if self.trainer is not None and self.trainer.training:
            self.train_sampler.consumed += len(batch["task_id"])
        return batch

    def val_dataloader(self):
        ds = LeaveOneOut(self.val_tasks, self.max_train_demos, augment=False, depth=self.depth)
        return DataLoader(ds, self.batch_size, shuffle=False, collate_fn=collate_items, num_workers=self.num_workers)

    def test_dataloader(self):
        return task_loader(self.test_set.tasks, self.task_batch_size, self.trainer)


@rank_zero_only
def write_targets(found: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found, indent=1))
    return path


def task_loader(tasks: list[Task], task_batch_size: int, trainer) -> DataLoader:
    """Evaluation batches of whole tasks; under several processes each task goes to exactly one rank (no padded
    duplicates)."""
    ds = TaskList(tasks)
    sampler = None
    if trainer is not None and trainer.world_size > 1:
        sampler = UnrepeatedDistributedSampler(ds, num_replicas=trainer.world_size, rank=trainer.global_rank,
                                               shuffle=False)
    return DataLoader(ds, task_batch_size, shuffle=False, sampler=sampler, collate_fn=TaskBatch, num_workers=0)
