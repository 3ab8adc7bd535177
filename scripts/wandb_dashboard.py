"""Build the "rail frequencies" W&B dashboard: a workspace (or report) spec with panels for rail/freq/*, rail/acc/*,
the rail-frequency bar chart and the per-task rail table that RailTelemetry logs, plus the EBR gate rates.

    python scripts/wandb_dashboard.py [--out docs/wandb_dashboard.json] [--project topas-lit] [--entity E]
                                      [--kind workspace|report] [--offline] [--timeout 30]

The spec is always written to --out (JSON). It is also saved through the W&B API only when online with
credentials: WANDB_API_KEY set, WANDB_MODE not offline/disabled/dryrun, no --offline, and the
``wandb-workspaces`` package installed (``pip install -e ".[dashboard]"``). The save runs in a daemon thread
under --timeout, so the script never hangs without network.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topas_lit.callbacks.rail_telemetry import CHART_KEY, TABLE_KEY  # noqa: E402
from topas_lit.modules.dsl.search import ANSWER_RAILS  # noqa: E402

OFFLINE_MODES = ("offline", "disabled", "dryrun")
STEP = "trainer/global_step"


def line(title: str, keys: list[str]) -> dict:
    return {"type": "line", "title": title, "x": STEP, "y": keys}


def build_spec(project: str = "topas-lit", entity: str | None = None, kind: str = "workspace") -> dict:
    """The dashboard as plain JSON: sections of panels naming the keys the callbacks log."""
    freq = [f"rail/freq/{r}" for r in ANSWER_RAILS]
    acc = [f"rail/acc/{r}" for r in ANSWER_RAILS]
    sections = [
        {"name": "Rail frequencies (evaluation)", "panels": [
            {"type": "bar", "title": "rail frequency (last evaluation)", "metrics": freq},
            {"type": "custom_chart", "title": "rail frequency (bar chart)", "chart": "wandb/bar/v0",
             "table": f"{CHART_KEY}_table", "fields": {"label": "rail", "value": "frequency"}},
            {"type": "bar", "title": "rail accuracy (last evaluation)", "metrics": acc},
            {"type": "table", "title": "per-task rails (task, test input, rail, program or painter, correct)",
             "table": TABLE_KEY},
        ]},
        {"name": "Rail frequencies (training and validation)", "panels": [
            line("train rail frequency", [f"train/{k}" for k in freq]),
            line("val rail frequency", [f"val/{k}" for k in freq]),
            line("train rail accuracy", [f"train/{k}" for k in acc]),
            line("val rail accuracy", [f"val/{k}" for k in acc]),
        ]},
        {"name": "EBR gate", "panels": [
            line("EBR applied rate", [f"ebr/{p}/applied_rate" for p in ("train", "val", "test", "ttt")]),
            line("EBR changed-answer rate", [f"ebr/{p}/changed_rate" for p in ("train", "val", "test", "ttt")]),
        ]},
    ]
    return {"kind": kind, "name": "rail frequencies", "project": project, "entity": entity, "rails": list(ANSWER_RAILS),
            "sections": sections}


def online(args) -> tuple[bool, str]:
    if args.offline:
        return False, "--offline given"
    if not os.environ.get("WANDB_API_KEY"):
        return False, "no WANDB_API_KEY"
    if os.environ.get("WANDB_MODE", "").lower() in OFFLINE_MODES:
        return False, f"WANDB_MODE={os.environ['WANDB_MODE']}"
    return True, "online"


def to_wandb(spec: dict):
    """The spec as wandb_workspaces objects (Workspace, or Report of panel grids). Raises ImportError without it."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    def panel(p: dict):
        if p["type"] == "line":
            return wr.LinePlot(title=p["title"], x=p["x"], y=p["y"])
        if p["type"] == "bar":
            return wr.BarPlot(title=p["title"], metrics=p["metrics"])
        if p["type"] == "custom_chart":
            return wr.CustomChart(query={"summaryTable": {"tableKey": p["table"]}}, chart_name=p["chart"],
                                  chart_fields=p["fields"])
        return wr.WeavePanelSummaryTable(table_name=p["table"])

    entity = spec["entity"]
    if spec["kind"] == "report":
        blocks = []
        for s in spec["sections"]:
            blocks += [wr.H2(s["name"]), wr.PanelGrid(panels=[panel(p) for p in s["panels"]])]
        return wr.Report(entity=entity, project=spec["project"], title=spec["name"], blocks=blocks)
    return ws.Workspace(name=spec["name"], entity=entity, project=spec["project"],
                        sections=[ws.Section(name=s["name"], panels=[panel(p) for p in s["panels"]], is_open=True)
                                  for s in spec["sections"]])


def save_online(spec: dict, timeout: float) -> str:
    """Save through the W&B API in a daemon thread; never blocks longer than ``timeout`` seconds."""
    result: dict = {}
    spec = dict(spec)
    from wandb.errors import Error as WandbError

    def work():
        try:
            if spec["entity"] is None:                         # the account's default entity (a network call)
                import wandb

                spec["entity"] = wandb.Api(timeout=timeout).default_entity
            view = to_wandb(spec)
            view.save()
            result["msg"] = f"saved to W&B: {getattr(view, 'url', '') or spec['project']}"
        except ImportError as err:
            result["msg"] = f"not saved to W&B: {err} (pip install wandb-workspaces)"
        except (WandbError, OSError, ValueError, RuntimeError) as err:   # W&B (auth, comm), network, bad spec
            result["msg"] = f"not saved to W&B: {type(err).__name__}: {err}"

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    return result.get("msg", f"not saved to W&B: no answer within {timeout:.0f}s")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "wandb_dashboard.json"))
    ap.add_argument("--project", default=os.environ.get("WANDB_PROJECT", "topas-lit"))
    ap.add_argument("--entity", default=os.environ.get("WANDB_ENTITY"))
    ap.add_argument("--kind", choices=("workspace", "report"), default="workspace")
    ap.add_argument("--offline", action="store_true", help="only write the spec file")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args(argv)
    spec = build_spec(args.project, args.entity, args.kind)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, indent=2) + "\n")
    ok, why = online(args)
    msg = save_online(spec, args.timeout) if ok else f"not saved to W&B ({why})"
    print(f"dashboard spec written to {out}; {msg}")
    return {"spec": spec, "path": str(out), "online": ok, "message": msg}


if __name__ == "__main__":
    main()
