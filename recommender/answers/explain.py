"""Why a source is ranked where it is: LightGBM ``pred_contrib`` (TreeSHAP) put into words.

``pred_contrib=True`` gives, per row, one additive contribution per model feature plus the
expected value (last column); they sum exactly to the raw prediction. Related columns are
grouped into one *reason* a linguist can read (``dist_genetic`` and ``closer_than_eng_genetic``
both say how related source and target are), and each reason is phrased with the candidate's
own values: "source and target share a family (Atlantic-Congo; genetic distance 0.21)".

A recommendation's ``why`` is at most three reasons by the ranker, most important first, measured
against the average candidate of the same kind in the same query (contribution minus the pool's
mean contribution): reasons that are the same for every candidate (the target's own features)
then drop out, and what is left says why this source beats, or trails, the others. A reason is
shown only when it is *material*: its contribution is at least ``MATERIAL`` (a quarter) of the
standard deviation of the ranker's scores over the candidates it is compared with, and, for a
distance, the source's distance differs from English's by ``MIN_DISTANCE_GAP`` (0.02) or more
(URIEL distances are not precise to the third decimal). The direction word is read off the two
numbers it shows ("closer" only when the source's distance is the smaller). ``stepstone explain`` prints every reason,
for the ranker (score units) and the gain model (points).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from feature_store.errors import InvalidRequest, StepstoneError
from feature_store.features import ENGLISH, MULTILINGUAL, Source
from feature_store.lang_features import LanguageFeatures
from feature_store.languages import language_name, resolve
from feature_store.tasks import FORMATS, LEVELS, Task, registry
from recommender.answers.entry import Entry
from recommender.answers.types import KINDS, Kind


class Booster(Protocol):
    """``lightgbm.Booster`` or anything predicting like it (the model's blended ranker)."""

    def predict(self, *args: Any, **kwargs: Any) -> Any: ...


MAX_PEERS = 16
_CAVEAT_ENDINGS = ("(no URIEL data)",)
MATERIAL = 0.25
MIN_DISTANCE_GAP = 0.02
DISTANCE_KINDS = ("syntactic", "phonological", "inventory", "featural", "genetic", "geographic")


def reason_of(feature: str) -> str:
    """The reason a model feature belongs to (features sharing a reason are summed)."""
    for kind in DISTANCE_KINDS:
        if feature in (f"dist_{kind}", f"closer_than_eng_{kind}"):
            return f"distance:{kind}"
        if feature == f"target_eng_{kind}":
            return "target_english"
    groups = {
        "target_imputed": "target_uriel", "target_uriel_missing": "target_uriel",
        "source_imputed": "source_uriel", "source_uriel_missing": "source_uriel",
        "target_cc100": "target_cc100", "target_cc100_present": "target_cc100",
        "source_cc100": "source_cc100", "source_cc100_present": "source_cc100",
        "log_source_size": "source_size", "source_size_missing": "source_size",
        "same_task": "task_match", "same_format": "task_match", "same_level": "task_match",
        "n_source_tasks": "task_match", "source_task_known": "task_match", "source_format": "task_match",
        "source_level": "task_match", "source_log_train": "source_task_size",
        "source_headroom": "source_task_difficulty", "target_format": "target_task",
        "target_level": "target_task", "target_headroom": "target_task", "target_task_code": "target_task",
        "source_is_english": "english",
        "prior_percentile": "prior", "prior_gain": "prior", "prior_count": "prior",
    }
    return groups.get(feature, feature)


@dataclass(frozen=True)
class Reason:
    """One reason: its key, summed contribution (model units) and a sentence."""

    key: str
    contribution: float
    text: str
    caveat: bool = False  # says what is unknown ("never measured", "distance unknown"): not a reason

    def arrow(self) -> str:
        return f"{'↑' if self.contribution > 0 else '↓'} {self.text}"


def contributions(booster: Booster, Z: np.ndarray) -> np.ndarray:
    """TreeSHAP contributions: shape (n_rows, n_features + 1), last column the expected value."""
    return np.asarray(booster.predict(Z, pred_contrib=True, num_threads=1))


def _gib(log1p_gib: float) -> str:
    gib = math.expm1(log1p_gib)
    return f"{gib:.1f}" if gib < 10 else f"{gib:,.0f}"


class Explainer:
    """Phrases reasons for (target task, target language, source) rows of a model's design matrix."""

    def __init__(self, feature_names: Sequence[str], languages: LanguageFeatures) -> None:
        self.names = list(feature_names)
        self.col = {n: i for i, n in enumerate(self.names)}
        self.keys = [reason_of(n) for n in self.names]
        self.order = list(dict.fromkeys(self.keys))
        self.lf = languages

    def group(self, contrib: np.ndarray) -> np.ndarray:
        """Sum feature columns into reasons: (n_rows, n_features[+1]) -> (n_rows, n_reasons)."""
        out = np.zeros((contrib.shape[0], len(self.order)))
        for j, key in enumerate(self.keys):
            out[:, self.order.index(key)] += contrib[:, j]
        return out

    def _v(self, z: np.ndarray, name: str) -> float:
        j = self.col.get(name)
        return math.nan if j is None else float(z[j])

    def describe(self, key: str, z: np.ndarray, target_task: str, target: str, source: Source,
                 contribution: float = 0.0) -> tuple[str, bool]:
        """(sentence, is a caveat) for reason ``key`` with this row's values ``z`` (a design-matrix row).

        A direction word ("closer", "share a family", "beat most") is used only where it agrees with
        the sign of ``contribution``; where the trees read the value the other way, the sentence
        states the value without one, so that an arrow never contradicts its words."""
        text = self._describe(key, z, target_task, target, source, contribution)
        return text, text.endswith(_CAVEAT_ENDINGS) or " is unknown" in text or "no URIEL" in text \
            or "never measured" in text

    def _describe(self, key: str, z: np.ndarray, target_task: str, target: str, source: Source,
                  contribution: float) -> str:
        v = lambda n: self._v(z, n)  # noqa: E731
        up = contribution > 0
        src, tgt = language_name(source.language), language_name(target)
        if key.startswith("distance:"):
            kind = key.split(":", 1)[1]
            d, eng = v(f"dist_{kind}"), v(f"target_eng_{kind}")
            if source.language == MULTILINGUAL:
                return f"the source data is in several languages: no single {kind} distance to {tgt}"
            if math.isnan(d):
                return f"{kind} distance between {src} and {tgt} is unknown (no URIEL data)"
            if kind == "genetic":
                fs, ft = self.lf.family(source.language), self.lf.family(target)
                if d < 1.0 and up:
                    return f"source and target share a family ({ft}; genetic distance {d:.2f})"
                if d >= 1.0 and not up:
                    return f"source and target are unrelated ({fs} vs {ft}; genetic distance {d:.2f})"
                return f"genetic distance {src}–{tgt} {d:.2f} ({fs} vs {ft})"
            if source.language == ENGLISH or math.isnan(eng):
                return f"{kind} distance {src}–{tgt} is {d:.2f}"
            digits = 2 if f"{d:.2f}" != f"{eng:.2f}" else 3  # never "0.40 vs 0.40"
            if (d < eng and up) or (d > eng and not up):
                word = "closer to" if d < eng else "farther from"
                return f"{src} is {word} {tgt} than English is ({kind} distance {d:.{digits}f} vs {eng:.{digits}f})"
            return f"{kind} distance {src}–{tgt} {d:.{digits}f} (English–{tgt} {eng:.{digits}f})"
        if key == "target_english":
            parts = [f"{k} {v('target_eng_' + k):.2f}" for k in ("syntactic", "genetic", "geographic")
                     if not math.isnan(v("target_eng_" + k))]
            return f"how far {tgt} is from English ({', '.join(parts) or 'unknown'} distance)"
        if key in ("target_uriel", "source_uriel"):
            who, name = ("target", tgt) if key == "target_uriel" else ("source", src)
            if v(f"{who}_uriel_missing") == 1.0:
                return f"{who} {name} has no URIEL typology at all"
            return f"{who} {name}'s URIEL typology is {v(f'{who}_imputed'):.0%} imputed"
        if key in ("target_cc100", "source_cc100"):
            who, name = ("target", tgt) if key == "target_cc100" else ("source", src)
            if v(f"{who}_cc100_present") == 0.0:
                return f"{who} {name} is not in XLM-R's pretraining data (CC-100)"
            return f"{who} {name} has {_gib(v(f'{who}_cc100'))} GiB of pretraining text (CC-100)"
        if key == "source_size":
            if v("source_size_missing") == 1.0 or math.isnan(v("log_source_size")):
                return "size of the source training data is unknown"
            return f"source training data has {10 ** v('log_source_size') - 1:,.0f} examples"
        if key == "task_match":
            return self._task_match(z, target_task, source)
        if key == "source_task_size":
            size = v("source_log_train")
            if math.isnan(size):
                return f"training-set size of {source.task} is unknown"
            return f"{source.task} has {10 ** size - 1:,.0f} training examples"
        if key == "source_task_difficulty":
            h = v("source_headroom")
            return f"difficulty of {source.task} is unknown" if math.isnan(h) else \
                f"{source.task} leaves {h:.0%} headroom in English (difficulty)"
        if key == "target_task":
            h = v("target_headroom")
            return f"target task {target_task}" + ("" if math.isnan(h) else f" ({h:.0%} headroom in English)")
        if key == "english":
            return "source is English" if source.language == ENGLISH else "source data is not English"
        if key == "prior":
            n, pct, gain = v("prior_count"), v("prior_percentile"), v("prior_gain")
            what = f"{src} data" if self._v(z, "same_task") == 1.0 else source.task
            if not n or math.isnan(n):
                return f"{what} was never measured for another {target_task} target"
            g = "" if math.isnan(gain) else f"; mean gain {gain:+.1f} points"
            if (pct >= 0.5) == up:
                return f"{what} beat {pct:.0%} of the other sources on average over {int(n)} measured " \
                    f"{target_task} targets{g}"
            return f"{what} over {int(n)} measured {target_task} targets: mean percentile {pct:.0%}{g}"
        # a feature added to the model after these words were written: name it and its value
        value = v(key)
        return f"feature {key} = {value:g}" if not math.isnan(value) else f"feature {key} is missing"

    def _task_match(self, z: np.ndarray, target_task: str, source: Source) -> str:
        tgt = registry().lookup(target_task)
        if self._v(z, "same_task") == 1.0:
            return f"source is {target_task} itself, in another language"
        if self._v(z, "source_task_known") == 0.0:
            return f"source task {source.task} is not in the task registry"
        fmt = self._v(z, "source_format")
        level = self._v(z, "source_level")
        sfmt = FORMATS[int(fmt)] if not math.isnan(fmt) else "unknown"
        slev = LEVELS[int(level)] if not math.isnan(level) else "unknown"
        if tgt is None:
            return f"{source.task} is a {sfmt} task ({slev})"
        same = "same" if self._v(z, "same_format") == 1.0 else "different"
        return f"{source.task} is {sfmt} ({slev}); {target_task} is {tgt.format} ({tgt.level}): {same} format"

    def immaterial_distance(self, key: str, z: np.ndarray, source: Source) -> bool:
        """A distance reason whose source-vs-English difference is too small to mean anything."""
        if not key.startswith("distance:") or key == "distance:genetic" or source.language == ENGLISH:
            return False
        kind = key.split(":", 1)[1]
        d, eng = self._v(z, f"dist_{kind}"), self._v(z, f"target_eng_{kind}")
        return not (math.isnan(d) or math.isnan(eng)) and abs(d - eng) < MIN_DISTANCE_GAP

    def reasons(self, grouped_row: np.ndarray, z: np.ndarray, target_task: str, target: str,
                source: Source, top: int | None = 3, min_abs: float = 5e-4) -> list[Reason]:
        """Reasons with |contribution| ≥ ``min_abs``, largest first (``top`` of them; all when None)."""
        order = np.argsort(-np.abs(grouped_row), kind="stable")
        out: list[Reason] = []
        for j in order:
            key = self.order[j]
            if abs(grouped_row[j]) < min_abs or self.immaterial_distance(key, z, source):
                continue
            text, caveat = self.describe(key, z, target_task, target, source, float(grouped_row[j]))
            out.append(Reason(key, float(grouped_row[j]), text, caveat))
            if top and sum(not r.caveat for r in out) == top:
                break
        return out


def peer_sample(pool: np.ndarray, scores: np.ndarray, max_peers: int = MAX_PEERS) -> np.ndarray:
    """Up to ``max_peers`` rows of ``pool`` spread evenly over its ranking (all rows if fewer)."""
    if len(pool) <= max_peers:
        return pool
    ranked = pool[np.argsort(-scores[pool], kind="stable")]
    return ranked[np.linspace(0, len(ranked) - 1, max_peers).round().astype(int)]


def why(explainer: Explainer, booster: Booster, Z: np.ndarray, target_task: str,
        targets: Sequence[str], sources: Sequence[Source], pools: Sequence[np.ndarray],
        rows: Sequence[int], top: int = 3, scores: np.ndarray | None = None,
        max_peers: int = MAX_PEERS) -> dict[int, tuple[list[str], list[str]]]:
    """(top reasons, caveats) (vs. the average candidate of the query) for the design rows ``rows``.

    ``Z`` holds every candidate row (of one or many queries); ``pools[i]`` are the rows of row i's
    query. The average candidate is estimated from at most ``max_peers`` rows spread over the
    query's ranking (``scores``), so a 100-language report needs TreeSHAP for ~2,000 rows, not 7,000.
    """
    if len(rows) == 0:
        return {}
    ranked = np.asarray(booster.predict(Z, num_threads=1)) if scores is None else scores
    peers = {}
    for i in rows:
        key = int(pools[i][0]) if len(pools[i]) else -1
        if key not in peers:
            peers[key] = peer_sample(np.asarray(pools[i]), ranked, max_peers)
    need = np.unique(np.concatenate([np.asarray(list(rows), dtype=int), *peers.values()]))
    grouped_need = explainer.group(contributions(booster, Z[need])[:, :-1])
    where = {int(r): j for j, r in enumerate(need)}
    out = {}
    for i in rows:
        sample = peers[int(pools[i][0]) if len(pools[i]) else -1]
        own = grouped_need[where[i]]
        rel = own - grouped_need[[where[int(r)] for r in sample]].mean(axis=0) if len(sample) > 1 else own
        spread = float(np.std(ranked[np.asarray(pools[i], dtype=int)])) if len(pools[i]) > 1 else 0.0
        floor = max(MATERIAL * spread, 5e-4)
        found = explainer.reasons(rel, Z[i], target_task, targets[i], sources[i], top, floor)
        out[i] = ([r.arrow() for r in found if not r.caveat], [r.text for r in found if r.caveat])
    return out


def find_entry(entries: Mapping[Kind, Sequence[Entry]], target: Task, code: str, source: str,
               ) -> tuple[Kind, int, Entry]:
    """(kind, rank, entry) of ``source`` (``mnli``, ``deu``, ``German`` or ``udpos/deu``) in an answer's entries."""
    want = source.strip()
    for kind in KINDS:
        for rank, e in enumerate(entries.get(kind, []), start=1):
            s = e.source
            if want in (s.label(), s.task if kind == "intermediate" else s.language) or \
                    (kind == "language" and _resolves_to(want, s.language)):
                return kind, rank, e
    known = sorted({e.source.task if kind == "intermediate" else e.source.language
                    for kind in KINDS for e in entries.get(kind, [])})
    if not known:
        raise InvalidRequest(f"no candidate sources for {target.id} → {code}")
    raise InvalidRequest(f"{want!r} is not a candidate source for {target.id} → {code}; candidates: "
                         f"{', '.join(known)}")


def contribution_table(explainer: Explainer, booster: Booster, Z: np.ndarray, row: int, pool: np.ndarray,
                       scores: np.ndarray, target_task: str, code: str, source: Source) -> dict[str, Any]:
    """Every reason of one design row, against the same peers as the answer's reasons (``why``)."""
    c = contributions(booster, Z)
    grouped = explainer.group(c[:, :-1])
    peers = peer_sample(np.asarray(pool), scores)
    rel = grouped[row] - grouped[peers].mean(axis=0) if len(peers) > 1 else grouped[row]
    reasons = explainer.reasons(rel, Z[row], target_task, code, source, top=None)
    return {"prediction": float(c[row].sum()), "expected_value": float(c[row, -1]),
            "reasons": [{"reason": r.key, "contribution": round(r.contribution, 4), "text": r.text,
                         "caveat": r.caveat} for r in reasons]}


def _resolves_to(name: str, code: str) -> bool:
    try:
        return resolve(name) == code
    except StepstoneError:  # not a language name at all
        return False


__all__ = ["Explainer", "Reason", "contribution_table", "contributions", "find_entry", "reason_of", "why"]
