"""One candidate while an answer is built: its figure, interval, basis and evidence, before it is an ``Item``.

Every rung writes ``Entry``\\ s (the model, the nearest-language model, the published figures);
the measured rung then overwrites the figure of any entry whose exact cell the store holds
(``with_measured``), the entries of a decision are ordered by the figure they show
(``ordered``), and the first ``k`` become the answer's ``Item``\\ s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from feature_store.features import Source
from feature_store.languages import language_name
from recommender.answers.measured import Cell, MeasuredCells
from recommender.answers.types import MEASURED, Basis, Item, Kind, Measured


def rounded(x: float | None) -> float | None:
    """A figure as an answer shows it: 3 decimals, None for NaN, infinity or None."""
    return None if x is None or not math.isfinite(x) else round(float(x), 3)


@dataclass
class Entry:
    source: Source
    kind: Kind
    gain: float
    low: float
    high: float
    basis: Basis
    evidence: str
    row: int | None = None  # the candidate's row in the model's design matrix (for reasons)
    tiebreak: float = 0.0  # the model's ranking score: equal figures keep the ranker's order
    measured: Measured | None = None
    why: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    def label(self) -> str:
        s = self.source
        if self.kind == "language":
            return f"{language_name(s.language)} ({s.language})"
        return s.task if s.language == "eng" else f"{s.task} ({language_name(s.language)})"

    def item(self, rank: int) -> Item:
        s = self.source
        return Item(rank=rank, kind=self.kind, source_task=s.task, source_language=s.language,
                    source_language_name=language_name(s.language), source_size=s.size,
                    gain=rounded(self.gain), gain_low=rounded(self.low), gain_high=rounded(self.high),
                    basis=self.basis, evidence=self.evidence, measured=self.measured, why=list(self.why),
                    caveats=list(self.caveats))


def find_cell(cells: dict[tuple[str, str, float | None], Cell], source: Source, canon: dict[str, str]) -> Cell | None:
    """The measured cell of ``source`` (same task id, language; sizes equal or unstated), merged over matches."""
    task = canon.get(source.task, source.task)
    hits = [c for (t, lang, size), c in cells.items()
            if lang == source.language and canon.get(t, t) == task
            and (size is None or source.size is None or size == source.size)]
    if not hits:
        return None
    if len(hits) == 1:
        return hits[0]
    return Cell(tuple(g for c in hits for g in c.gains), tuple(s for c in hits for s in c.settings))


def with_measured(entry: Entry, cell: Cell, index: MeasuredCells, task: str, level: float,
                  caveats: list[str]) -> Entry:
    """``entry`` answered by its measured runs: their mean, the interval of one more run, their provenance."""
    low, high, sd, rule = index.interval(task, cell, level)
    n, seeds = len(cell.gains), len(set(cell.settings))
    measured = Measured(runs=n, seeds=seeds, sd=round(sd, 3), datasets=cell.datasets, models=cell.models,
                        interval_rule=rule)
    what = f"{n} run{'s' if n != 1 else ''}" + (f" ({seeds} seeds or settings)" if seeds != n else "")
    evidence = f"measured: mean of {what} of this exact cell, {', '.join(cell.models) or 'model not stated'}"
    why = [f"measured {entry.label()} → this target: " + ", ".join(f"{g:+.2f}" for g in cell.gains[:6])
           + (" …" if n > 6 else "") + " points"]
    return Entry(entry.source, entry.kind, cell.mean, low, high, MEASURED, evidence, entry.row, entry.tiebreak,
                 measured, why, caveats)


def ordered(entries: list[Entry]) -> list[Entry]:
    """By the figure shown, highest first (no figure last); ties keep the ranker's order."""
    return sorted(entries, key=lambda e: (not math.isfinite(e.gain), -e.gain if math.isfinite(e.gain) else 0.0,
                                          -e.tiebreak))


__all__ = ["Entry", "find_cell", "ordered", "rounded", "with_measured"]
