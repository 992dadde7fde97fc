"""The answer contract, checked: what every answer must hold, whatever the query.

``violations(answer, facts)`` lists every way one answer breaks the contract (DESIGN.md, "What an
answer is"); ``check_store(service)`` runs it over every (task, measured target language) of a
store and counts them. Used by the tests (a sample of the shipped store) and by
``bench/answer_contract.py`` (all of it).

The contract:
- **measured first** — an item whose exact cell the store holds shows the mean of its runs (basis
  ``measured``);
- **usable candidates only** — a source language has training data for the task (runs of the
  store use it as a source of the task, or the registry lists it); an intermediate item names a
  task (no "best of nine");
- **one order** — items are ordered by the gain shown;
- **advice that follows** — "train" only on the first item, when its whole interval clears the
  noise threshold; "measure first" names items expected to gain; "skip" only when none may help;
- **arrows with the right sign** — "↑" never stands beside "farther" or "unrelated", "↓" never
  beside "closer" or "share a family"; "never measured" and "unknown" are caveats, not reasons.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from feature_store.features import Source
from feature_store.tasks import canonical_task, registry
from recommender.answers.entry import find_cell
from recommender.answers.measured import MeasuredCells
from recommender.answers.types import Answer

UP_WRONG = ("farther from", "are unrelated")
DOWN_WRONG = ("closer to", "share a family")
NOT_REASONS = ("never measured", " is unknown", "no URIEL data")


@dataclass
class Facts:
    """What the store knows, for checking answers against it."""

    measured: MeasuredCells
    source_languages: Mapping[str, set[str]]  # task id -> languages with runs as a source of it


def facts_of(runs: Iterable[Any], measured: MeasuredCells) -> Facts:
    langs: dict[str, set[str]] = {}
    for r in runs:
        task = canonical_task(r.target_task)
        if canonical_task(r.source_task) == task:
            langs.setdefault(task, set()).add(r.source_language)
    return Facts(measured, langs)


def violations(answer: Answer, facts: Facts) -> list[str]:
    """Every breach of the contract in one answer, as ``"<kind>: <what>"`` strings."""
    q = answer.query
    task = registry().get(q.task)
    out: list[str] = []
    cells = facts.measured.for_query(task.id, q.language, q.model)
    canon = {t: canonical_task(t) for t, _, _ in cells}
    listed = set(task.train_languages) | facts.source_languages.get(task.id, set())
    threshold = answer.noise_threshold
    for kind, d in answer.decisions.items():
        items = d.recommendations
        gains = [it.gain for it in items]
        finite = [g for g in gains if g is not None]
        if finite != sorted(finite, reverse=True) or (None in gains and gains[gains.index(None):].count(None)
                                                      != len(gains) - gains.index(None)):
            out.append(f"order: {kind} items not ordered by their gain: {gains}")
        for it in items:
            cell = find_cell(cells, Source(it.source_task, it.source_language, it.source_size), canon)
            if cell is not None and (it.basis != "measured" or it.gain is None
                                     or not math.isclose(it.gain, round(cell.mean, 3), abs_tol=1e-3)):
                out.append(f"measured: {kind} {it.source_task}/{it.source_language} shows {it.gain} ({it.basis}); "
                           f"the store measured {cell.mean:.3f}")
            if kind == "language" and it.source_language not in listed:
                out.append(f"candidate: {it.source_language} has no {task.id} training data")
            if kind == "intermediate" and ("best" in it.source_task or not it.source_task):
                out.append(f"unnamed: intermediate item {it.source_task!r}")
            for reason in it.why:
                if reason.startswith("↑") and any(w in reason for w in UP_WRONG) or \
                        reason.startswith("↓") and any(w in reason for w in DOWN_WRONG):
                    out.append(f"arrow: {reason}")
                if any(w in reason for w in NOT_REASONS):
                    out.append(f"reason is a caveat: {reason}")
        if d.advice == "train":
            first = items[0] if items else None
            if first is None or first.gain_low is None or first.gain_low < threshold or (first.gain or 0) <= 0:
                out.append(f"advice: train on {first and first.source_task} whose interval is "
                           f"{first and first.gain_low} … {first and first.gain_high}")
        if d.advice == "skip" and any((it.gain or 0) > 0 and (it.gain_high is None or it.gain_high >= threshold)
                                      for it in items):
            out.append(f"advice: skip although an item may help ({kind})")
    return out


def check_store(service: Any, tasks: Iterable[str] | None = None, k: int = 50,
                limit: int | None = None, every_language: bool = False) -> dict[str, Any]:
    """The contract over every (task, measured target language) of ``service``'s store — or, with
    ``every_language``, every registry target task × every language of the store — (``limit`` of
    them, spread evenly): counts per kind of violation, and the first few of each."""
    facts = facts_of(service.store.query(), service.measured_cells())
    measured = service.catalogue().measured
    if every_language:
        langs = [row["code"] for row in service.languages() if row["code"] != "mul"]
        pairs = [(t.id, lang) for t in registry().targets() if not tasks or t.id in tasks for lang in langs]
    else:
        pairs = [(t, lang) for t in sorted(tasks or measured) if registry().lookup(t) for lang in measured.get(t, [])]
    if limit is not None and len(pairs) > limit:
        step = len(pairs) / limit
        pairs = [pairs[int(i * step)] for i in range(limit)]
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    items = measured_items = train = 0
    for t, lang in pairs:
        answer = service.recommend(lang, t, k=k)
        for d in answer.decisions.values():
            items += len(d.recommendations)
            measured_items += sum(it.basis == "measured" for it in d.recommendations)
            train += d.advice == "train"
        for v in violations(answer, facts):
            kind = v.split(":", 1)[0]
            counts[kind] += 1
            examples.setdefault(kind, [])
            if len(examples[kind]) < 3:
                examples[kind].append(f"{t}/{lang}: {v}")
    return {"queries": len(pairs), "items": items, "measured_items": measured_items, "train_advice": train,
            "violations": dict(counts), "examples": examples}


__all__ = ["Facts", "check_store", "facts_of", "violations"]
