"""A plan as the trainer's matrix config: ``stepstone train plan|matrix --config plan.toml`` runs it as is.

The trainer's matrix (``trainer/config.py`` ``MatrixConfig``) is a grid: every source task ×
source language × target language of one or more target tasks. A plan's cells fit one grid per
kind of source:

* intermediate cells: ``source_tasks`` = the planned intermediate tasks, ``source_languages`` =
  their data's languages (English for X-STILTs);
* source-language cells: ``source_tasks`` = the target task itself, ``source_languages`` = the
  planned source languages.

Both grids list the plan's target languages. A source is trained once and evaluated on every
listed language in the same job, so the grid may also evaluate a few cells the plan did not pick
(``extra_cells``): they cost evaluation only. A plan with both kinds gives two configs, since one
grid would cross intermediate tasks with non-English data that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

# Where the user's data and model are: placeholders unless given (``train plan`` reads neither).
DEFAULT_DATA = "data"
DEFAULT_MODEL = "models/xlm-roberta-large"
DEFAULT_OUT = "stepstone-train"
DEFAULT_DATASET = "stepstone-plan"


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string or list of strings is valid TOML


def grids(cells: Sequence[Mapping[str, Any]], task: str) -> list[dict[str, Any]]:
    """One grid per kind of source in ``cells`` (plan answer items), intermediate first."""
    out = []
    for kind in ("intermediate", "language"):
        picked = [c for c in cells if c["kind"] == kind]
        if not picked:
            continue
        sources = list(dict.fromkeys(task if kind == "language" else c["source_task"] for c in picked))
        source_languages = list(dict.fromkeys(c["source_language"] for c in picked))
        languages = list(dict.fromkeys(c["target_language"] for c in picked))
        chosen = {(c["source_task"] if kind == "intermediate" else task, c["source_language"], c["target_language"])
                  for c in picked}
        extra = [[s, sl, lang] for s in sources for sl in source_languages for lang in languages
                 if (s, sl, lang) not in chosen]
        out.append({"kind": kind, "target_tasks": [task], "source_tasks": sources,
                    "source_languages": source_languages, "languages": languages, "extra_cells": extra})
    return out


def to_toml(grid: Mapping[str, Any], *, data: str = DEFAULT_DATA, model: str = DEFAULT_MODEL,
            out: str = DEFAULT_OUT, dataset: str = DEFAULT_DATASET, seeds: Sequence[int] = (1,),
            header: Sequence[str] = ()) -> str:
    """The grid as a matrix TOML file; paths are relative to the file's folder, as the trainer reads them."""
    lines = [f"# {h}" for h in header]
    if grid["extra_cells"]:
        lines.append(f"# The grid also evaluates {len(grid['extra_cells'])} cells the plan did not pick "
                     "(no extra training): " + ", ".join("/".join(c) for c in grid["extra_cells"][:6])
                     + (" …" if len(grid["extra_cells"]) > 6 else ""))
    lines += [
        f"data = {_q(data)}",
        f"models = {_q([model])}",
        f"out = {_q(out)}",
        f"dataset = {_q(dataset)}",
        f"source_tasks = {_q(grid['source_tasks'])}",
        f"source_languages = {_q(grid['source_languages'])}",
        f"target_tasks = {_q(grid['target_tasks'])}",
        f"languages = {_q(grid['languages'])}",
        f"seeds = {_q(list(seeds))}",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["grids", "to_toml", "DEFAULT_DATA", "DEFAULT_MODEL", "DEFAULT_OUT", "DEFAULT_DATASET"]
