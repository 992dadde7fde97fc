"""Published evidence about intermediate tasks, parsed once from the shipped facts.

``literature_priors()`` are the X-STILTs average gains per intermediate task (Phang et al. 2020,
``data/xstilts_claims.csv``); ``published_findings(task)`` are the paper's qualitative findings
that name a target task. Both are read on first use and cached for the process.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from feature_store.tasks import Task, canonical_task, registry

CLAIMS_FILE = "data/xstilts_claims.csv"


@dataclass(frozen=True)
class Prior:
    """A published average gain of one intermediate task (English), in points."""

    source_task: str
    gain: float
    claim: str


@functools.lru_cache(maxsize=1)
def _claims() -> tuple[dict[str, str], ...]:
    text = resources.files("feature_store").joinpath(CLAIMS_FILE).read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines()))


@functools.lru_cache(maxsize=1)
def literature_priors() -> tuple[Prior, ...]:
    """Average X-STILTs gains per intermediate task, best first."""
    out = []
    for row in _claims():
        if row["claim"] != "avg_gain_over_xlmr_large":
            continue
        name = row["intermediate_task"]
        if name.startswith("multi-task"):
            task_id = "+".join(sorted(t.id for t in registry().intermediate()))
        else:
            task_id = canonical_task(name)
        out.append(Prior(task_id, float(row["value"]),
                         f"{name}: +{row['value']} points on average (Phang et al. 2020)"))
    return tuple(sorted(out, key=lambda p: -p.gain))


@functools.lru_cache(maxsize=256)
def published_findings(target: Task) -> tuple[str, ...]:
    """Published qualitative findings about ``target`` (as warnings an answer can carry)."""
    name = target.name.lower()
    return tuple(f"published finding for {target.name}: {row['source'].split(': ', 1)[-1]}"
                 for row in _claims()
                 if row["claim"] == "qualitative" and name in row["target_task"].lower().split(";"))


__all__ = ["Prior", "literature_priors", "published_findings"]
