"""data.program_targets=search: at setup the datamodule runs the search (the run's rail settings) over its fit tasks,
never the validation or evaluated ones, and a task whose first answer is right on all its public test outputs gives
its program as the policy target; the targets go to <out_dir>/program_targets.json and training items carry them.
The GPU recipe (+experiment=gpu) trains with them."""
import json
import logging
import re

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import compose_cfg
from topas_lit.data.datamodule import TARGETS_FILE, ARCDataModule
from topas_lit.errors import ConfigError
from topas_lit.modules.dsl import OP_NAMES
from topas_lit.search.engine import SearchEngine
from topas_lit.search.source import SearchSource
from topas_lit.search.targets import find_programs

SMALL_SEARCH = ["rail.depth=2", "rail.beam_width=4", "rail.policy_topk=2", "rail.cpu_workers=1"]   # seconds on CPU
SEARCHED = ["data.program_targets=search", "data.train.limit=24", "data.val_fraction=0.2", *SMALL_SEARCH]


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """(datamodule set up for fit with program_targets=search, its run folder, its log lines)."""
    out = tmp_path_factory.mktemp("run")
    cfg = compose_cfg(SEARCHED)
    cfg.out_dir = str(out)
    dm = instantiate(cfg.data)
    lines = Lines()
    logger = logging.getLogger("topas_lit.data.datamodule")
    logger.addHandler(lines)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        dm.setup("fit")
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return dm, out, lines.lines


def test_search_finds_targets_for_the_fit_tasks_only(searched):
    dm, out, lines = searched
    found = json.loads((out / TARGETS_FILE).read_text())
    assert found == dm.programs
    fit, val = {t.id for t in dm.fit_tasks}, {t.id for t in dm.val_tasks}
    assert set(found) == fit and len(val) == 4 and not val & set(found)
    with_prog = {tid: e for tid, e in found.items() if e["program"] is not None}
    assert len(with_prog) >= 3, found
    assert with_prog.get("0d3d703e", {}).get("program") == ["colour_map_fit"]   # a colour substitution task
    for entry in with_prog.values():
        assert 1 <= len(entry["program"]) <= 2 and set(entry["program"]) <= set(OP_NAMES) and entry["rail"]
        assert "identity" not in entry["program"]
    said = [m for m in (re.fullmatch(r"program targets: search found (\d+)/(\d+) fit tasks in [\d.]+ s on cpu -> .*",
                                     line) for line in lines) if m]
    assert [(int(m[1]), int(m[2])) for m in said] == [(len(with_prog), len(fit))], lines


def test_training_items_carry_the_searched_targets(searched):
    dm, _, _ = searched
    ds = dm.train_dataloader().dataset
    with_prog = {tid for tid, e in dm.programs.items() if e["program"] is not None}

    def targeted(epochs):
        out = set()
        for item in (ds[(e, i)] for e in range(epochs) for i in range(len(ds))):
            tgt, entry = item["targets"], dm.programs[item["task_id"]]
            assert bool(tgt["rail_mask"])       # every fit task was searched
            if bool(tgt["program_mask"]):
                ids = [OP_NAMES.index(name) for name in entry["program"]]
                assert tgt["program"][: len(ids)].tolist() == ids and not tgt["program"][len(ids):].any()
                out.add(item["task_id"])
            else:
                assert not tgt["program"].any()
        return out

    assert ds.augment and 3 <= len(targeted(2)) < len(with_prog)    # rotated items drop the target
    ds.augment = False
    assert targeted(1) == with_prog
    val = next(iter(dm.val_dataloader()))       # validation items never carry a target
    assert not val["targets"]["program_mask"].any() and not val["targets"]["rail_mask"].any()


def test_tasks_without_solutions_are_not_searched(arc1_train):
    class Recording(SearchSource):
        def search(self, tasks, op_prior=None):
            self.seen = [t.id for t in tasks]
            return super().search(tasks, op_prior)

    tasks = arc1_train.tasks[:6]
    source = Recording(SearchEngine(depth=1, beam_width=4, policy_topk=2))
    with_answers = {t.id: arc1_train.solutions[t.id] for t in tasks}
    full = find_programs(tasks, with_answers, source)
    assert any(e["program"] for e in full.values()), full
    solved = next(tid for tid, e in full.items() if e["program"])
    del with_answers[solved]
    partial = find_programs(tasks, with_answers, source)
    assert partial[solved] == {"program": None} and solved not in source.seen and len(source.seen) == 5
    assert {k: v for k, v in partial.items() if k != solved} == {k: v for k, v in full.items() if k != solved}


def test_gpu_recipe_searches_for_its_program_targets():
    cfg = compose_cfg(["+experiment=gpu"])
    assert cfg.data.program_targets == "search"
    data = OmegaConf.to_container(cfg.data, resolve=True)
    assert data["rail"] == OmegaConf.to_container(cfg.rail, resolve=True) and data["rail"]["depth"] == 3
    assert data["depth"] == 3
    # the DreamEngine memory fills in training (dream buffer); its op bias stays off (docs/PERFORMANCE.md)
    assert cfg.callbacks.dream_buffer.feed_engine and cfg.rail.op_bias.weights.dream == 0.0
    assert compose_cfg().data.program_targets is None


def test_program_targets_must_be_search_or_a_file(tmp_path):
    from topas_lit.config_check import validate
    with pytest.raises(ConfigError, match="data.program_targets must be null, 'search' or a JSON file"):
        validate(compose_cfg([f"data.program_targets={tmp_path / 'absent.json'}"]))
    targets = tmp_path / "t.json"
    targets.write_text("{}")
    validate(compose_cfg([f"data.program_targets={targets}"]))
    validate(compose_cfg(["data.program_targets=search"]))
    with pytest.raises(ValueError, match="needs the search settings"):
        ARCDataModule(train={}, test={}, program_targets="search")


def test_the_search_runs_on_the_trainers_device():
    from lightning.pytorch import Trainer
    dm = ARCDataModule(train={}, test={})
    assert dm.search_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dm.trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    assert dm.search_device() == torch.device("cpu")
