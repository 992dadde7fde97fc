"""What a finished matrix folder did, one row per phase (``stepstone train cells OUT``).

Runs hold scores; this table holds the rest of a matrix's provenance: per intermediate training
(phase 1) and per cell (phase 2 and its zero-shot evaluation), the English dev check against
chance, the wall time, the training tokens, the scores' median sampling error over test examples
(``eval_se``) and the device. It reads the artefacts the trainer wrote
(``<model>/_phase1/.../done.json`` and ``<model>/<target>/.../result.json``) and imports no torch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

COLUMNS = (
    "phase", "id", "source_task", "target_task", "intermediate_size", "seed", "examples", "steps",
    "train_s", "eval_s", "tokens", "tokens_per_s", "dev_task", "dev_metric", "dev_score", "dev_chance",
    "near_chance", "languages", "eval_se", "device",
)  # fmt: skip


def _round(value: Any, digits: int = 2) -> Any:
    return round(float(value), digits) if isinstance(value, int | float) else value


def _phase1_records(out: Path) -> dict[str, dict[str, Any]]:
    """Every intermediate training: from its folder's done.json, or, once a matrix removed the
    encoder folder after its last user, from the phase-1 job's result (which stays in OUT/jobs)."""
    found = {}
    for path in sorted(out.glob("jobs/*/result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if result.get("phase1_dir") and result.get("phase1"):
            found[_phase1_id(result["phase1_dir"])] = result["phase1"]
    for path in sorted(out.glob("*/_phase1/*/*/done.json")):
        found[str(path.parent.relative_to(out))] = json.loads(path.read_text(encoding="utf-8"))
    return dict(sorted(found.items()))


def _seed(phase_id: str) -> Any:
    last = phase_id.rsplit("/", 1)[-1]
    return int(last[4:].split(".", 1)[0]) if last.startswith("seed") else ""


def _phase1_rows(out: Path, chances: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for phase_id, done in _phase1_records(out).items():
        if "reused" in done:
            continue  # a record of reuse, not of a training
        best = (done.get("dev_selection") or {}).get("best") or {}
        for task, examples in sorted((done.get("tasks") or {}).items()):
            check = chances.get((phase_id, task), {})
            score = best.get(task)
            rows.append({
                "phase": 1, "id": phase_id, "source_task": task, "target_task": "",
                "intermediate_size": _size(phase_id), "seed": _seed(phase_id), "examples": examples,
                "steps": done.get("steps"), "train_s": _round(done.get("runtime_s")), "eval_s": "",
                "tokens": done.get("tokens"), "tokens_per_s": _round(done.get("tokens_per_s"), 1),
                "dev_task": task if score is not None else "", "dev_metric": check.get("metric", ""),
                "dev_score": _round(score), "dev_chance": _round(check.get("chance")),
                "near_chance": check.get("near_chance", ""), "languages": "", "device": "",
            })  # fmt: skip
    return rows


def _phase1_id(path: str) -> str:
    """``<model id>/_phase1/<source>/<seed>`` from wherever the matrix folder was."""
    parts = Path(path).parts
    at = parts.index("_phase1") if "_phase1" in parts else 1
    return "/".join(parts[at - 1 :])


def _size(phase_id: str) -> Any:
    last = phase_id.rsplit("/", 1)[-1]
    return int(last.split(".n", 1)[1]) if ".n" in last else ""


def _cells(out: Path) -> list[dict[str, Any]]:
    """Every cell's result.json under ``out`` (phase-1 folders hold done.json, not results)."""
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(out.glob("*/*/*/*/result.json"))
        if p.parts[-4] != "_phase1"
    ]


def _median_se(result: dict[str, Any]) -> Any:
    """The median over languages of the score's sampling error over test examples (blank for results
    written before the trainer measured it)."""
    key = f"{result.get('metric')}_se"
    values = [m[key] for m in (result.get("metrics") or {}).values() if isinstance(m, dict)
              and isinstance(m.get(key), int | float) and math.isfinite(m[key])]
    return _round(statistics.median(values), 3) if values else ""


def cell_rows(out: Path) -> list[dict[str, Any]]:
    """Every phase-1 training and every cell under ``out``, in path order."""
    out = Path(out)
    cells = _cells(out)
    chances: dict[tuple[str, str], dict[str, Any]] = {}  # the chance level is measured by the cells
    rows = []
    for result in cells:
        config = result.get("config") or {}
        p1 = ((result.get("phases") or {}).get("phase1") or {}).get("reused")
        for name, check in (result.get("english_dev") or {}).items():
            if name.startswith("phase1:") and p1:
                chances.setdefault((_phase1_id(p1), name.split(":", 1)[1]), check)
        phase2 = (result.get("phases") or {}).get("phase2") or {}
        dev = (result.get("english_dev") or {}).get("phase2") or {}
        timings = result.get("timings") or {}
        rows.append({
            "phase": 2, "id": result.get("cell_id"), "source_task": config.get("source_task"),
            "target_task": config.get("target_task"), "intermediate_size": config.get("intermediate_size") or "",
            "seed": config.get("seed"), "examples": phase2.get("examples"), "steps": phase2.get("steps"),
            # a cell whose fine-tuned model was reused trained nothing: no training time, only its lookup
            "train_s": _round(timings.get("phase2_s")) if phase2.get("steps") else "",
            "eval_s": _round(timings.get("phase3_s")),
            "tokens": phase2.get("tokens"), "tokens_per_s": _round(phase2.get("tokens_per_s"), 1),
            "dev_task": dev.get("task", ""), "dev_metric": dev.get("metric", ""), "dev_score": _round(dev.get("score")),
            "dev_chance": _round(dev.get("chance")), "near_chance": dev.get("near_chance", ""),
            "languages": len(result.get("scores") or {}), "eval_se": _median_se(result),
            "device": (result.get("environment") or {}).get("device", ""),
        })  # fmt: skip
    return _phase1_rows(out, chances) + rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


__all__ = ["COLUMNS", "cell_rows", "to_csv"]
