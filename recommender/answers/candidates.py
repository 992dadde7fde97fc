"""The candidates of a query: which sources the store knows for a target task, split by kind.

Two kinds, two decisions, each ranked only against its own kind: ``intermediate`` (train on
another task first, X-STILTs; English or multilingual intermediate data, single or multi-task) and
``language`` (fine-tune on the target task in another language). The catalogue is built from
one aggregate query over the store per store revision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from feature_store.errors import InvalidRequest
from feature_store.features import ENGLISH, MULTILINGUAL, Source
from feature_store.tasks import Task, canonical_task
from recommender.answers.table import MAX_K

Candidates = Literal["all", "intermediate", "language"]
CANDIDATE_KINDS: tuple[str, ...] = ("all", "intermediate", "language")


def check_kind(candidates: str) -> str:
    if candidates not in CANDIDATE_KINDS:
        raise InvalidRequest(f"candidates must be one of {', '.join(CANDIDATE_KINDS)}, got {candidates!r}")
    return candidates


@dataclass(frozen=True)
class Catalogue:
    """Known sources per target task id, split by kind, and the measured target languages per task."""

    language: dict[str, list[Source]]
    intermediate: dict[str, list[Source]]
    measured: dict[str, list[str]]


def build_catalogue(source_counts: Sequence[tuple[Any, ...]], target_counts: Sequence[tuple[Any, ...]]) -> Catalogue:
    """From ``(target_task, source_task, source_language, source_size, n)`` and ``(target_task, target_language, n)``.

    A source's size is the one most of its runs have (the smallest of equally common sizes).
    """
    sizes: dict[tuple[str, str, str], dict[float | None, int]] = defaultdict(dict)
    for target_task, source_task, lang, size, n in source_counts:
        per = sizes[(canonical_task(target_task), source_task, lang)]
        per[size] = per.get(size, 0) + int(n)
    language: dict[str, list[Source]] = defaultdict(list)
    intermediate: dict[str, list[Source]] = defaultdict(list)
    for (task, source_task, lang), per in sorted(sizes.items(), key=lambda kv: str(kv[0])):
        size = min(per, key=lambda s: (-per[s], s is not None, s or 0.0))
        source = Source(source_task, lang, size)
        (language if canonical_task(source_task) == task else intermediate)[task].append(source)
    measured: dict[str, set[str]] = defaultdict(set)
    for target_task, target_language, _ in target_counts:
        measured[canonical_task(target_task)].add(target_language)
    return Catalogue(dict(language), dict(intermediate), {k: sorted(v) for k, v in measured.items()})


def candidate_pool(cat: Catalogue, target: Task, code: str, candidates: str = "all",
                   ) -> tuple[list[tuple[Source, str]], list[str]]:
    """(sources the model scores, with their kind; warnings) for one query.

    Only usable sources: a language is a candidate for ``target`` where its training data exists
    there — a language that runs of the store use as a source of the task, or one the task
    registry lists (``train_languages``, with its source). English is the baseline every gain is
    measured against, not a candidate; nor is the target language itself. Intermediate candidates
    here are the named tasks with runs for ``target``; the published rungs add the named X-STILTs
    tasks (``answers.ladder``).
    """
    warnings: list[str] = []
    pool: list[tuple[Source, str]] = []
    if candidates in ("all", "language"):
        sources = list(cat.language.get(target.id, []))
        have = {s.language for s in sources}
        listed = [Source(target.id, lang) for lang in target.train_languages if lang not in have]
        if listed and not sources:
            warnings.append(f"no source-language runs of {target.id} in the store: the gains of its "
                            f"{len(listed)} languages with training data ({target.train_languages_source}) are "
                            "predicted from other tasks' runs")
        pool += [(s, "language") for s in [*sources, *listed]
                 if s.language not in (code, ENGLISH, MULTILINGUAL)]
    if candidates in ("all", "intermediate"):
        pool += [(s, "intermediate") for s in cat.intermediate.get(target.id, [])]
    return pool, warnings


def check_model(model: str | None) -> str | None:
    if model is None or not model.strip():
        return None
    if len(model) > 256 or any(ord(c) < 32 for c in model):
        raise InvalidRequest(f"model must be a model name of at most 256 printable characters, got {model[:40]!r}")
    return model.strip()


def check_k(k: object) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}, got {k!r}")


__all__ = ["Candidates", "CANDIDATE_KINDS", "Catalogue", "build_catalogue", "candidate_pool", "check_k", "check_kind",
           "check_model"]
