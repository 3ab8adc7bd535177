"""Program targets for policy distillation: the search's verified programs on training tasks.

``find_programs(tasks, solutions, source)`` runs the search (``SearchSource``, which never sees a solution) over
``tasks`` and keeps, per task, the program of the engine's first answer when that answer is right on every public
test output of the task (``solutions``: the training split's test outputs). The result is the targets file's
format, read by ``LeaveOneOut`` (``topas_lit/data/datamodule.py``)::

    {task id: {"program": [op names], "rail": rail name}   # the first answer was right on every test output
     task id: {"program": None}}                           # not right, only the identity, a composition of
                                                          # several programs, an unverified guess, a view's
                                                          # program (`... @colours`), or no solutions known

Used by ``data.program_targets=search`` (the datamodule searches its fit tasks) and by
``scripts/distill_policy.py``.
"""
from __future__ import annotations

from topas_lit.data.tasks import Task
from topas_lit.modules.dsl.search import COMPOSE, NEAREST
from topas_lit.search.source import SearchSource

NO_PROGRAM = {"program": None}


def find_programs(tasks: list[Task], solutions: dict[str, list], source: SearchSource) -> dict:
    """Per task: the engine's first answer's program where it is right on every public test output, else None.
    Tasks without solutions are not searched and give None."""
    known = [t for t in tasks if solutions.get(t.id) is not None]
    found = {t.id: dict(NO_PROGRAM) for t in tasks}
    for task, ans in zip(known, source.search(known)):
        right = all(g and g[0] == sol for g, sol in zip(ans.grids, solutions[task.id]))
        prog = ans.programs[0][0] if right else None
        # a composition is no single program, a guess (rail ``nearest``) no verified one; a view's program
        # (``... @colours``) runs on renamed colours
        if prog and prog != "identity" and ans.rails[0][0] not in (COMPOSE, NEAREST) and " @" not in prog:
            found[task.id] = {"program": prog.split(" | "), "rail": ans.rails[0][0]}
    return found
