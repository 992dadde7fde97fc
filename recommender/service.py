"""Service functions: what the CLI and the REST API call. All logic lives here, none in the edges.

``Service`` owns the run store, the model registry and the live model. The live model is one
attribute swapped in a single assignment, so a request sees the old model or the new one.
"""

from __future__ import annotations

import csv
import functools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from feature_store.errors import InvalidRequest
from feature_store.features import ENGLISH, FeatureBuilder, Source
from feature_store.languages import language_name, resolve
from feature_store.runs import ImportResult, Run, RunStore, fingerprint_runs, read_runs
from feature_store.seed import ensure_seeded
from feature_store.tasks import Task, canonical_task, registry
from recommender.dataset import TrainingSet, assemble, group_queries
from recommender.model import TransferRanker
from recommender.registry import LoadedModel, ModelRegistry

Candidates = Literal["all", "intermediate", "language"]
CALIBRATION_FILE = "calibration.json"
CANDIDATE_KINDS = ("all", "intermediate", "language")
MAX_K = 50
# Peers (other candidates of the query) that an answer's explanations are measured against.
ONLINE_PEERS = 4


@dataclass(frozen=True)
class Prior:
    source_task: str
    gain: float
    claim: str


@functools.lru_cache(maxsize=1)
def _literature_priors() -> tuple[Prior, ...]:
    return tuple(_read_priors())


def literature_priors() -> list[Prior]:
    """Average X-STILTs gains per intermediate task (Phang et al. 2020; facts/xstilts_claims.csv)."""
    return list(_literature_priors())


def _read_priors() -> list[Prior]:
    """Average X-STILTs gains per intermediate task (Phang et al. 2020; facts/xstilts_claims.csv)."""
    text = resources.files("feature_store").joinpath("data/xstilts_claims.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(text.splitlines()):
        if row["claim"] != "avg_gain_over_xlmr_large":
            continue
        name = row["intermediate_task"]
        if name.startswith("multi-task"):
            task_id = "+".join(sorted(t.id for t in registry().intermediate()))
        else:
            task_id = canonical_task(name)
        out.append(Prior(task_id, float(row["value"]), f"{name}: +{row['value']} points on average "
                                                        "(Phang et al. 2020)"))
    return sorted(out, key=lambda p: -p.gain)


@dataclass
class Catalogue:
    """Known sources per target task id, split by kind, from the runs in the store."""

    language: dict[str, list[Source]]
    intermediate: dict[str, list[Source]]
    all_source_languages: list[str]


def build_catalogue(runs: Sequence[Run]) -> Catalogue:
    sizes: dict[tuple[str, str, str], Counter[float | None]] = defaultdict(Counter)
    for r in runs:
        sizes[(canonical_task(r.target_task), r.source_task, r.source_language)][r.source_size] += 1
    language: dict[str, list[Source]] = defaultdict(list)
    intermediate: dict[str, list[Source]] = defaultdict(list)
    for (task, source_task, lang), counter in sorted(sizes.items(), key=lambda kv: str(kv[0])):
        source = Source(source_task, lang, counter.most_common(1)[0][0])
        if canonical_task(source_task) == task:
            language[task].append(source)
        else:
            intermediate[task].append(source)
    langs = sorted({r.source_language for r in runs})
    return Catalogue(dict(language), dict(intermediate), langs)


def train_model(runs: Sequence[Run], *, builder: FeatureBuilder | None = None,
                **params: Any) -> tuple[TransferRanker, TrainingSet]:
    queries = group_queries(runs, exclude_self=True)
    ts = assemble(queries, builder)
    return TransferRanker(**params).fit(ts), ts


class Service:
    """One per process: the CLI makes one per command, the API one per app."""

    def __init__(self, *, seed: bool = True) -> None:
        self.store = RunStore()
        if seed:
            ensure_seeded(self.store)
        self.registry = ModelRegistry()
        self._lock = threading.Lock()
        self._live: LoadedModel | None = None
        self._builder: FeatureBuilder | None = None
        self._catalogue: tuple[int, Catalogue] | None = None
        self._annotators: dict[str, Any] = {}  # per model version / store revision: see annotator()

    # -- shared state ---------------------------------------------------------------------------
    @property
    def builder(self) -> FeatureBuilder:
        if self._builder is None:
            self._builder = FeatureBuilder()
        return self._builder

    def catalogue(self) -> Catalogue:
        revision = self.store.revision()
        cached = self._catalogue
        if cached is None or cached[0] != revision:
            cached = (revision, build_catalogue(self.store.query()))
            self._catalogue = cached
        return cached[1]

    def live(self) -> LoadedModel:
        """The live model; loads the current version, or trains the default one if there is none."""
        live = self._live
        if live is None:
            with self._lock:
                if self._live is None:
                    if self.registry.current() is None:
                        self.retrain()
                    else:
                        loaded = self.registry.load()
                        if _fits_features(loaded):
                            self._live = loaded
                        else:  # trained by an older stepstone on other features: rebuild it
                            self.retrain()
                live = self._live
        assert live is not None
        return live

    # -- models ---------------------------------------------------------------------------------
    def retrain(self, *, activate: bool = True, calibrate_intervals: bool = True,
                summarise: Callable[[TransferRanker, TrainingSet], dict[str, Any]] | None = None,
                **params: Any) -> dict[str, Any]:
        """Train on the whole store and register a new version (with its interval calibration).

        ``summarise(model, training_set)``, when given, is answered under ``"summary"`` (it sees the
        data the model was trained on, so callers need not assemble it again).
        """
        t0 = time.perf_counter()
        runs = self.store.query()
        model, ts = train_model(runs, builder=self.builder, **params)
        meta: dict[str, Any] = {"fingerprint": fingerprint_runs(runs), "runs": len(runs),
                                "queries": len(ts.queries), "rows": int(len(ts.X))}
        extra: dict[str, bytes] = {}
        if model.gain_ is not None and calibrate_intervals:
            from recommender.intervals import calibrate

            cal = calibrate(ts, **params)
            extra[CALIBRATION_FILE] = cal.to_json().encode()
            meta["calibration"] = {"file": CALIBRATION_FILE, "level": cal.level, "method": cal.method,
                                   "cv_coverage": cal.meta.get("cv_coverage"),
                                   "width": {k: round(hi - lo, 3) for k, (lo, hi) in cal.quantiles.items()}}
        meta["train_seconds"] = round(time.perf_counter() - t0, 3)
        version = self.registry.register(model, meta, activate=activate, extra_files=extra)
        if activate:
            self._live = self.registry.load(version)
        result = {"version": version, **meta}
        if summarise is not None:
            result["summary"] = summarise(model, ts)
        return result

    def activate(self, version: str) -> dict[str, Any]:
        loaded = self.registry.load(version)
        self.registry.activate(version)
        self._live = loaded
        return {"version": version, **loaded.meta}

    # -- queries --------------------------------------------------------------------------------
    def recommend(self, language: str, task: str, k: int = 3,
                  candidates: str = "all") -> dict[str, Any]:
        """Ranked sources for one (target task, target language)."""
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        if candidates not in CANDIDATE_KINDS:
            raise InvalidRequest(f"candidates must be one of {', '.join(CANDIDATE_KINDS)}, "
                                 f"got {candidates!r}")
        code = resolve(language)
        target = registry().get(task)
        live = self.live()
        pool, priors, warnings = self.candidate_pool(target, code, candidates)
        ann = self.annotator(live)
        items = self._score(live, ann, target, code, pool, priors, k) if pool else []
        items = _merge_priors(items, priors)
        warnings = ann.coverage(code, target.id) + warnings + _claims_warnings(target)
        for rank, item in enumerate(items[:k], start=1):
            item["rank"] = rank
        return {"query": {"language": code, "language_name": language_name(code), "task": target.id,
                          "k": k, "candidates": candidates},
                "model_version": live.version, "recommendations": items[:k], **ann.advice(items, target.id),
                "warnings": warnings}

    def candidate_pool(self, target: Task, code: str, candidates: str = "all",
                       ) -> tuple[list[tuple[Source, str]], list[Prior], list[str]]:
        """(scored sources with their kind, literature priors, warnings) for one query."""
        cat = self.catalogue()
        warnings: list[str] = []
        pool: list[tuple[Source, str]] = []
        if candidates in ("all", "language"):
            sources = cat.language.get(target.id)
            if not sources:
                warnings.append(f"no runs of task {target.id} in the store: source-language gains are "
                                "extrapolated from other tasks' runs")
                sources = [Source(target.id, lang) for lang in cat.all_source_languages]
            pool += [(s, "language") for s in sources if s.language != code]
        priors: list[Prior] = []
        if candidates in ("all", "intermediate"):
            inter = cat.intermediate.get(target.id)
            if inter:
                pool += [(s, "intermediate") for s in inter]
            else:
                priors = literature_priors()
                warnings.append(f"no intermediate-task runs for {target.id} in the store: intermediate "
                                "tasks are ranked by the published average gains of X-STILTs "
                                "(Phang et al. 2020), not by the model")
        return pool, priors, warnings

    def annotator(self, live: LoadedModel) -> Any:
        """Intervals, explanations, advice and coverage warnings for the live model (cached)."""
        from recommender.annotate import Annotator

        key = f"{live.version}@{self.store.revision()}"
        ann = self._annotators.get(key)
        if ann is None:
            ann = Annotator.for_model(self, live)
            self._annotators = {key: ann}
        return ann

    def _score(self, live: LoadedModel, ann: Any, target: Task, code: str, pool: list[tuple[Source, str]],
               priors: Sequence[Prior] = (), k: int | None = None) -> list[dict[str, Any]]:
        """Model items in ranker order, with intervals; explanations for those the answer returns."""
        sources = [s for s, _ in pool]
        X = self.builder.build(target.id, code, sources)
        Z = live.model.design(X, target.id, sources)
        scores = live.model.score(Z)
        gains = live.model.predict_gain(Z)
        order = np.argsort(-scores, kind="stable")
        items = [{"rank": 0, "source_task": sources[i].task, "source_language": sources[i].language,
                  "source_language_name": language_name(sources[i].language), "kind": pool[i][1],
                  "predicted_gain": None if not np.isfinite(gains[i]) else round(float(gains[i]), 3),
                  "score": round(float(scores[i]), 4), "basis": "model"} for i in order]
        explain = None
        if k is not None:  # the model rows that stay in the top k once the priors are merged in
            kept = _merge_priors([dict(it, row=int(i)) for it, i in zip(items, order, strict=True)], priors)[:k]
            explain = [it["row"] for it in kept if it["basis"] == "model"]
        return ann.annotate(items, order, Z, scores, gains, target.id, code, sources, explain_rows=explain,
                            max_peers=ONLINE_PEERS)

    # -- runs -----------------------------------------------------------------------------------
    def import_file(self, path: str | Path) -> ImportResult:
        return self.store.insert(read_runs(path))

    def import_runs(self, runs: Sequence[Run]) -> ImportResult:
        return self.store.insert(runs)

    # -- listings -------------------------------------------------------------------------------
    def languages(self) -> list[dict[str, Any]]:
        """Languages with runs in the store: codes, names, roles and CC-100 size."""
        targets: Counter[str] = Counter()
        sources: Counter[str] = Counter()
        for r in self.store.iter():
            targets[r.target_language] += 1
            sources[r.source_language] += 1
        lf = self.builder.languages
        out = []
        for code in sorted(set(targets) | set(sources)):
            cc, present = lf.cc100_log_gib(code)
            out.append({"code": code, "name": language_name(code), "target_runs": targets[code],
                        "source_runs": sources[code], "cc100_gib": round(float(np.expm1(cc)), 2)
                        if present else None, "uriel": lf.known(code)})
        return out

    def tasks(self) -> list[dict[str, Any]]:
        counts = Counter(canonical_task(r.target_task) for r in self.store.iter())
        return [{**t.as_dict(), "runs": counts.get(t.id, 0)} for t in registry()]


def _fits_features(loaded: LoadedModel) -> bool:
    """Whether a stored model takes the features this version of the code builds."""
    from feature_store.features import FEATURE_NAMES

    probe = loaded.model.design(np.zeros((1, len(FEATURE_NAMES))), "xnli", [Source("xnli", ENGLISH)])
    return int(probe.shape[1]) == int(loaded.model.ranker_.num_feature())


def _merge_priors(items: list[dict[str, Any]], priors: Sequence[Prior]) -> list[dict[str, Any]]:
    """Insert literature-prior entries before the first model entry with a lower predicted gain."""
    out = list(items)
    for prior in priors:
        entry = {"rank": 0, "source_task": prior.source_task, "source_language": ENGLISH,
                 "source_language_name": language_name(ENGLISH), "kind": "intermediate",
                 "predicted_gain": prior.gain, "score": None, "basis": "literature-prior",
                 "evidence": prior.claim, "gain_low": None, "gain_high": None, "why": [prior.claim]}
        pos = next((i for i, it in enumerate(out) if it["basis"] == "model"
                    and (it["predicted_gain"] is None or it["predicted_gain"] < prior.gain)), len(out))
        while pos < len(out) and out[pos]["basis"] == "literature-prior" \
                and out[pos]["predicted_gain"] >= prior.gain:
            pos += 1
        out.insert(pos, entry)
    return out


@functools.lru_cache(maxsize=64)
def _claims_warnings_cached(target: Task) -> tuple[str, ...]:
    return tuple(_read_claims(target))


def _claims_warnings(target: Task) -> list[str]:
    return list(_claims_warnings_cached(target))


def _read_claims(target: Task) -> list[str]:
    """Published qualitative findings about this target task (facts/xstilts_claims.csv)."""
    text = resources.files("feature_store").joinpath("data/xstilts_claims.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(text.splitlines()):
        if row["claim"] == "qualitative" and target.name.lower() in row["target_task"].lower().split(";"):
            out.append(f"published finding for {target.name}: {row['source'].split(': ', 1)[-1]}")
    return out


__all__ = ["Service", "literature_priors", "train_model", "build_catalogue", "MAX_K"]
