"""Training-set assembly: runs → queries → one feature matrix with labels and groups.

A query is ``(dataset, model, target_task, target_language)``; its rows are the sources measured
for it (scores averaged over seeds). Scores on a 0–1 scale are put in points (× 100) so that gains
are comparable across settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from feature_store.errors import InvalidData
from feature_store.features import ENGLISH, FeatureBuilder, Source
from feature_store.runs.run import Run
from feature_store.runs.scales import declared_scales
from feature_store.tasks import canonical_task

Setting = tuple[str, str, str]  # (dataset, model, target_task)


@dataclass
class Query:
    """One query's measured sources. ``scores`` and ``baseline`` are in points."""

    dataset: str
    model: str
    target_task: str
    target_language: str
    sources: list[Source]
    scores: np.ndarray
    baseline: float | None

    @property
    def setting(self) -> Setting:
        return (self.dataset, self.model, self.target_task)

    @property
    def task_id(self) -> str:
        """The registry id of the target task (``udpos_v2.8`` → ``udpos``)."""
        return canonical_task(self.target_task)

    @property
    def gains(self) -> np.ndarray:
        if self.baseline is None:
            return np.full(len(self.scores), np.nan)
        return self.scores - self.baseline


# A gain in points beyond this is no measurement: a score on the wrong scale, or a typo.
MAX_GAIN = 100.0


UNLEARNED = frozenset({"near_chance", "near_chance:phase2"})


def unlearned(flags: str) -> bool:
    """Did the target fine-tuning end near chance on English dev? Then the run's zero-shot scores
    mean nothing: kept in the store (listed with the flag), never taught to a model or counted as
    evidence. An intermediate phase near chance (``near_chance:phase1:<task>``) is kept: the gain
    is still what that intermediate recipe did, and the flag says the task itself was not learned."""
    return any(f.strip() in UNLEARNED for f in flags.split(","))


def group_queries(runs: Iterable[Run], *, exclude_self: bool = True,
                  scales: Mapping[tuple[str, str], int] | None = None) -> list[Query]:
    """Group runs into queries (deterministic order); ``exclude_self`` drops in-language sources.

    Runs whose target fine-tuning ended near chance (``unlearned``) are left out, and a baseline
    that did is no baseline: such a query has no gains (NaN), whatever its runs' ``baseline_score``.
    Each score is put in points with the declared scale of its own (dataset, metric) (``scales``,
    as the store holds them; else as an import of these runs would declare them). A gain outside
    ±``MAX_GAIN`` points is refused (``InvalidData``), so no retrain learns from it.
    """
    runs = list(runs)
    declared = declared_scales(runs, scales)
    # The English baseline of a query whose own baseline run ended near chance was not measured:
    # the other runs of that query carry its score as baseline_score, which must not become a gain.
    failed_baseline = {_query_key(r) for r in runs if unlearned(r.flags) and _is_baseline(r)}
    runs = [r for r in runs if not unlearned(r.flags)]
    by_query: dict[tuple[str, str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        by_query[_query_key(run)].append(run)
    queries = []
    for key in sorted(by_query):
        runs_q = by_query[key]
        per_source: dict[Source, list[float]] = defaultdict(list)
        baseline_given: list[float] = []
        for r in runs_q:
            # Each run's own (dataset, metric) scale: a 0–1 run among 0–100 runs of one query is in points too.
            scale = 100.0 / declared[(r.dataset, r.metric)]
            per_source[Source(r.source_task, r.source_language, r.source_size)].append(r.score * scale)
            if r.baseline_score is not None:
                baseline_given.append(r.baseline_score * scale)
        english = [np.mean(v) for s, v in per_source.items() if s.task == key[2] and s.language == ENGLISH]
        baseline = float(english[0]) if english else (
            float(np.mean(baseline_given)) if baseline_given and key not in failed_baseline else None)
        sources = sorted(s for s in per_source if not (exclude_self and s.language == key[3]
                                                        and s.task == key[2]))
        if len(sources) < 2:
            continue  # nothing to rank
        query = Query(*key, sources=sources, scores=np.array([np.mean(per_source[s]) for s in sources]),
                      baseline=baseline)
        _check_plausible(query, ", ".join(sorted({r.metric for r in runs_q})))
        queries.append(query)
    return queries


def _query_key(run: Run) -> tuple[str, str, str, str]:
    return (run.dataset, run.model, run.target_task, run.target_language)


def _is_baseline(run: Run) -> bool:
    return run.source_task == run.target_task and run.source_language == ENGLISH


def _check_plausible(query: Query, metric: str) -> None:
    gains = query.gains[np.isfinite(query.gains)]
    if len(gains) and float(np.abs(gains).max()) > MAX_GAIN:
        worst = query.sources[int(np.nanargmax(np.abs(np.where(np.isfinite(query.gains), query.gains, 0.0))))]
        raise InvalidData(
            f"implausible gain of {float(np.abs(gains).max()):,.1f} points for metric {metric!r} of dataset "
            f"{query.dataset!r} ({query.target_task} → {query.target_language}, source {worst.label()}): "
            "fix or delete the runs (`stepstone runs delete`); the live model is kept")


def relevance(scores: np.ndarray, top: int = 10) -> np.ndarray:
    """LangRank's graded relevance: 11 − rank for the ``top`` best sources (rank 1 → top), 0 below."""
    order = np.argsort(-scores, kind="stable")
    rel = np.zeros(len(scores), dtype=int)
    for rank, idx in enumerate(order[:top], start=1):
        rel[idx] = top + 1 - rank
    return rel


@dataclass
class TrainingSet:
    """Rows of all queries stacked. X: (n_rows, n_features); group: rows per query, in order."""

    queries: list[Query]
    X: np.ndarray
    group: np.ndarray
    relevance: np.ndarray
    scores: np.ndarray
    gains: np.ndarray
    query_of_row: np.ndarray
    feature_names: tuple[str, ...]
    fingerprint: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    def subset(self, query_ids: Sequence[int]) -> TrainingSet:
        """The training set restricted to some queries (by index), rows in the same order."""
        ids = list(query_ids)
        mask = np.isin(self.query_of_row, ids)
        remap = {old: new for new, old in enumerate(sorted(ids))}
        return TrainingSet(
            queries=[self.queries[i] for i in sorted(ids)], X=self.X[mask],
            group=self.group[sorted(ids)], relevance=self.relevance[mask], scores=self.scores[mask],
            gains=self.gains[mask], query_of_row=np.array([remap[q] for q in self.query_of_row[mask]]),
            feature_names=self.feature_names, fingerprint=self.fingerprint, meta=self.meta)

    def rows(self, query_id: int) -> np.ndarray:
        return np.flatnonzero(self.query_of_row == query_id)


def assemble(queries: list[Query], builder: FeatureBuilder | None = None) -> TrainingSet:
    """Stack the queries' feature matrices, labels and gains."""
    from feature_store.features import FEATURE_NAMES

    builder = builder or FeatureBuilder()
    blocks, rels, scores, gains, qids = [], [], [], [], []
    for qi, q in enumerate(queries):
        blocks.append(builder.build(q.target_task, q.target_language, q.sources))
        rels.append(relevance(q.scores))
        scores.append(q.scores)
        gains.append(q.gains)
        qids.append(np.full(len(q.sources), qi))
    if not queries:
        width = len(FEATURE_NAMES)
        return TrainingSet([], np.zeros((0, width)), np.zeros(0, int), np.zeros(0, int), np.zeros(0),
                           np.zeros(0), np.zeros(0, int), FEATURE_NAMES)
    return TrainingSet(
        queries=queries, X=np.vstack(blocks), group=np.array([len(q.sources) for q in queries]),
        relevance=np.concatenate(rels), scores=np.concatenate(scores), gains=np.concatenate(gains),
        query_of_row=np.concatenate(qids), feature_names=FEATURE_NAMES)
