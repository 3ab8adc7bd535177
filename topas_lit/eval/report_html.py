"""report.html: one self-contained page to look at an evaluation's answers (no network, no CDN, no downloads:
inline CSS, inline SVG grids in the standard ARC palette, a few lines of inline JavaScript for the filters).

Summary: pass@2 per test input and per task, combined and for each candidate source alone, cell accuracy,
answers per rail, the settings that shaped the predictions. Per task: the demo pairs, each test input with
attempts 1 and 2, the truth where known, the rail/program/source of the answer, solved or not, and each source's
own two attempts. Filters: solved / unsolved, by rail, by source.
"""
from __future__ import annotations

import json
from collections import Counter
from html import escape
from pathlib import Path

# the ARC-AGI palette (arcprize.org viewer): black, blue, red, green, yellow, grey, magenta, orange, sky, maroon
PALETTE = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF",
           "#870C25")
GRID_PX = 112          # the longer side of a drawn grid, in pixels (cells at least 3 px)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
table.sum{border-collapse:collapse;margin:4px 0 10px;font-size:13px}
table.sum td,table.sum th{border:1px solid #ccc;padding:3px 8px;text-align:right}
table.sum th:first-child,table.sum td:first-child{text-align:left}
.muted{color:#666;font-size:12px}
.filters{position:sticky;top:0;background:#fafafa;padding:8px 0;border-bottom:1px solid #ddd;z-index:2;font-size:13px}
.filters select{margin-right:12px}
.task{background:#fff;border:1px solid #ddd;border-left:6px solid #bbb;border-radius:4px;margin:10px 0;padding:8px 12px}
.task.solved{border-left-color:#2ECC40}.task.unsolved{border-left-color:#FF4136}
.task h3{font-size:15px;margin:0 0 6px;font-family:ui-monospace,monospace}
.badge{display:inline-block;font-size:12px;padding:1px 6px;border-radius:8px;margin-left:6px;color:#fff}
.b-solved{background:#2a9d3a}.b-unsolved{background:#d6453d}.b-unscored{background:#888}
.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin:6px 0}
.pair,.cell{display:flex;flex-direction:column;align-items:center;font-size:11px;color:#444}
.pair .grids{display:flex;align-items:center;gap:4px}
svg.g{display:block;border:2px solid #999;background:#000}
svg.ok{border-color:#2ECC40}svg.bad{border-color:#FF4136}svg.truth{border-color:#555}
.meta{font-size:12px;font-family:ui-monospace,monospace;margin:2px 0 8px;color:#333}
details{font-size:12px;margin:4px 0}summary{cursor:pointer;color:#555}
.none{width:40px;height:40px;border:2px dashed #bbb;display:flex;align-items:center;justify-content:center;color:#999}
"""

JS = """
function applyFilters(){
  var s=document.getElementById('f-solved').value,r=document.getElementById('f-rail').value,
      by=document.getElementById('f-source').value,n=0;
  document.querySelectorAll('.task').forEach(function(t){
    var ok=(s==='all'||t.dataset.solved===s)&&(r==='all'||t.dataset.rails.split(' ').indexOf(r)>=0)&&
           (by==='all'||t.dataset.sources.split(' ').indexOf(by)>=0);
    t.style.display=ok?'':'none'; if(ok){n++;}
  });
  document.getElementById('shown').textContent=n;
}
document.querySelectorAll('.filters select').forEach(function(e){e.addEventListener('change',applyFilters);});
applyFilters();
"""


def grid_svg(grid: list[list[int]], css: str = "") -> str:
    """An ARC grid as inline SVG: one path per colour (runs of a row merged), thin grid lines on top."""
    if not grid or not grid[0]:
        return '<div class="none">-</div>'
    h, w = len(grid), max(len(r) for r in grid)
    px = max(3, min(16, GRID_PX // max(h, w)))
    runs: dict[int, list[str]] = {}
    for y, row in enumerate(grid):
        x = 0
        while x < len(row):
            c, start = row[x], x
            while x < len(row) and row[x] == c:
                x += 1
            runs.setdefault(int(c), []).append(f"M{start} {y}h{x - start}v1h{start - x}z")
    paths = "".join(f'<path fill="{PALETTE[c] if 0 <= c < 10 else "#fff"}" d="{"".join(d)}"/>'
                    for c, d in sorted(runs.items()))
    lines = "".join(f"M0 {y}H{w}" for y in range(1, h)) + "".join(f"M{x} 0V{h}" for x in range(1, w))
    grid_lines = (f'<path d="{lines}" stroke="#444" stroke-width="1" vector-effect="non-scaling-stroke" fill="none"/>'
                  if lines and px >= 5 else "")
    return (f'<svg class="g {css}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w * px}" '
            f'height="{h * px}" shape-rendering="crispEdges">{paths}{grid_lines}</svg>')


def _labelled(label: str, grid, css: str = "") -> str:
    body = grid_svg(grid, css) if grid is not None else '<div class="none">none</div>'
    return f'<div class="cell">{body}<span>{escape(label)}</span></div>'


def _fraction(solved: int, total: int) -> str:
    return f"{solved / total:.3f} ({solved}/{total})" if total else "-"


def _acc(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def summary_html(report: dict) -> str:
    cols = [("combined", report)] + list(report.get("sources", {}).items())
    head = "".join(f"<th>{escape(name)}{' (final answer)' if name == 'combined' else ' alone'}</th>"
                   for name, _ in cols)
    rows = [
        ("pass@2 per test input", lambda s: _fraction(s["test_inputs_solved"], s["test_inputs"])),
        ("pass@2 per task", lambda s: _fraction(s["tasks_solved"], s["tasks"])),
        ("cell accuracy (best of 2, 0 if wrong size)", lambda s: _acc(s.get("cell_accuracy_per_test_input"))),
        ("test inputs answered", lambda s: str(s.get("test_inputs_answered", "-"))),
        ("tasks skipped (why)", lambda s: ", ".join(f"{escape(k)}: {v}" for k, v in s.get("tasks_skipped", {}).items())
         or "-"),
    ]

    def cell(fn, s):
        if s.get("tasks_answered", 1) == 0 and s.get("tasks_skipped"):   # a source that never ran (TTT off)
            return "not run" if fn is not rows[-1][1] else fn(s)
        return fn(s)
    body = "".join(f"<tr><td>{label}</td>{''.join(f'<td>{cell(fn, s)}</td>' for _, s in cols)}</tr>"
                   for label, fn in rows)
    return f'<table class="sum"><tr><th>measure</th>{head}</tr>{body}</table>'


def rails_html(records: list[dict]) -> str:
    answered, correct = Counter(), Counter()
    for r in records:
        for n, rail in enumerate(r["rails"]):
            answered[rail] += 1
            correct[rail] += bool(r["correct"] and r["correct"][n])
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td><td>{correct[k]}</td></tr>"
                   for k, v in sorted(answered.items()))
    return ('<table class="sum"><tr><th>rail of the final answer</th><th>test inputs</th><th>correct</th></tr>'
            f'{rows}</table>')


def settings_html(settings: dict, report: dict) -> str:
    cbs = settings.get("callbacks", {})
    cb_rows = "".join(f"<tr><td>{escape(k)}</td><td style='text-align:left'>{escape(json.dumps(v))}</td></tr>"
                      for k, v in cbs.items())
    parts = "".join(f"<tr><td>{escape(k)}</td><td style='text-align:left'><code>{escape(json.dumps(v, sort_keys=True))}"
                    f"</code></td></tr>" for k, v in settings.items() if k != "callbacks")
    fp = report.get("fingerprint", {}).get("id", "-")
    return ('<table class="sum"><tr><th>prediction-shaping callback</th><th style="text-align:left">settings</th>'
            f'</tr>{cb_rows}</table>'
            f'<details><summary>settings that decide predictions (fingerprint {escape(fp)})</summary>'
            f'<table class="sum">{parts}</table></details>')


def _status(correct) -> str:
    if correct is None:
        return "unscored"
    return "solved" if all(correct) else "unsolved"


def task_html(rec: dict, task) -> str:
    status = _status(rec.get("correct"))
    n_ok = sum(rec["correct"]) if rec.get("correct") else 0
    badge = f'<span class="badge b-{status}">{status}' + (f" {n_ok}/{len(rec['correct'])}" if rec.get("correct")
                                                          else "") + "</span>"
    parts = [f'<h3>{escape(rec["task_id"])}{badge}</h3>']
    if task is not None:
        pairs = "".join(f'<div class="pair"><div class="grids">{grid_svg(i)}<span>&rarr;</span>{grid_svg(o)}</div>'
                        f'<span>demo {d + 1}</span></div>' for d, (i, o) in enumerate(task.demos))
        parts.append(f'<div class="row">{pairs}</div>')
    truth = rec.get("truth")
    for n, attempts in enumerate(rec["attempts"]):
        ok = rec["correct"][n] if rec.get("correct") else None
        answer = truth[n] if truth else None
        cells = []
        if task is not None:
            cells.append(_labelled(f"test input {n + 1}", task.test_inputs[n]))
        for a in range(2):
            grid = attempts[a] if attempts else None
            css = "" if answer is None or grid is None else ("ok" if grid == answer else "bad")
            cells.append(_labelled(f"attempt {a + 1}", grid, css))
        cells.append(_labelled("truth" if answer is not None else "truth unknown", answer, "truth"))
        meta = (f'rail {escape(str(rec["rails"][n]))} &middot; program {escape(str(rec["programs"][n]))} &middot; '
                f'source {escape(str(rec.get("answered_by", ["?"] * (n + 1))[n]))} &middot; '
                f'{"verified" if rec.get("verified", [False] * (n + 1))[n] else "unverified"} &middot; '
                + ("unscored" if ok is None else ("correct" if ok else "wrong")
                   + f' &middot; cell accuracy {rec["cell_accuracy"][n]:.3f}'))
        parts.append(f'<div class="row">{"".join(cells)}</div><div class="meta">{meta}</div>')
        own = []
        for name, src in rec.get("sources", {}).items():
            grids = src["attempts"][n]
            s_ok = src.get("correct")[n] if src.get("correct") else None
            label = f"{name}: " + ("no answer" if not grids else ("correct" if s_ok else "wrong" if s_ok is False
                                                                   else "unscored"))
            shown = "".join(_labelled(f"{name} attempt {a + 1}", grids[a] if grids else None,
                                      "" if answer is None or not grids else ("ok" if grids[a] == answer else "bad"))
                            for a in range(2))
            info = escape(json.dumps(src.get("info", {})))
            own.append(f'<div class="meta">{escape(label)} &middot; rail {escape(str(src["rails"][n]))} &middot; '
                       f'program {escape(str(src["programs"][n]))} &middot; info {info}</div>'
                       f'<div class="row">{shown}</div>')
        if own:
            parts.append(f"<details><summary>each source's own attempts (test input {n + 1})</summary>{''.join(own)}"
                         f"</details>")
    if rec.get("error"):
        parts.append(f'<div class="meta">error: {escape(rec["error"])}</div>')
    rails = " ".join(sorted(set(map(str, rec["rails"]))))
    sources = " ".join(sorted(set(map(str, rec.get("answered_by", [])))))
    return (f'<div class="task {status}" data-solved="{status}" data-rails="{escape(rails)}" '
            f'data-sources="{escape(sources)}">{"".join(parts)}</div>')


def _options(values) -> str:
    return '<option value="all">all</option>' + "".join(f'<option value="{escape(v)}">{escape(v)}</option>'
                                                         for v in sorted(values))


def render(report: dict, records: dict[str, dict], tasks: dict, order: list[str], settings: dict,
           title: str = "") -> str:
    ordered = [records[t] for t in order if t in records]
    rails = {str(x) for r in ordered for x in r["rails"]}
    sources = {str(x) for r in ordered for x in r.get("answered_by", [])}
    missing = report.get("tasks_missing", [])
    notes = []
    if missing:
        notes.append(f"{len(missing)} task(s) without a record (not evaluated yet): {', '.join(missing[:20])}")
    if report.get("tasks_failed"):
        notes.append(f"failed: {escape(json.dumps(report['tasks_failed']))}")
    if report.get("rejected_tasks"):
        notes.append(f"rejected input: {escape('; '.join(report['rejected_tasks']))}")
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>topas-lit evaluation {escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>Evaluation report</h1><div class='muted'>{escape(title)} &middot; {len(ordered)} task(s) evaluated, "
        f"exact match of the whole grid, 2 attempts per test input</div>",
        "<h2>Summary</h2>", summary_html(report), rails_html(ordered),
        "".join(f"<div class='muted'>{n}</div>" for n in notes),
        "<h2>Settings</h2>", settings_html(settings, report),
        '<h2>Tasks</h2><div class="filters">show <select id="f-solved"><option value="all">all</option>'
        '<option value="solved">solved</option><option value="unsolved">unsolved</option>'
        '<option value="unscored">unscored</option></select>'
        f'rail <select id="f-rail">{_options(rails)}</select>source <select id="f-source">{_options(sources)}</select>'
        '<span class="muted"><span id="shown"></span> shown</span></div>',
        "".join(task_html(r, tasks.get(r["task_id"])) for r in ordered),
        f"<script>{JS}</script></body></html>",
    ])


def write_report_html(path: Path, report: dict, records: dict[str, dict], tasks: dict, order: list[str],
                      settings: dict) -> Path:
    path = Path(path)
    path.write_text(render(report, records, tasks, order, settings, title=str(path.parent)), encoding="utf-8")
    return path
