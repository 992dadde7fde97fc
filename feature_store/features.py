"""The feature matrix of one query (target task, target language) × its candidate sources.

Numpy only (no pandas): this runs per request. Missing values are NaN, which LightGBM handles
natively, plus an explicit flag per group so the model can tell "far" from "unknown".

Columns (``FEATURE_NAMES``) fall into three groups (``FEATURE_GROUPS``), used by the evaluation's
ablations: linguistic (URIEL distances source↔target and target↔English, and how much closer
the source is than English), resource (CC-100 sizes, source data size), task (task and format
match, levels, sizes and difficulty of both tasks, and a target-task code that the model fills from
the task vocabulary it was trained on, so that no stored model depends on the registry's order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from feature_store.lang_features import DISTANCES, LanguageFeatures, get_language_features
from feature_store.tasks import FORMATS, LEVELS, Task, registry

ENGLISH = "eng"
# ISO 639-3 "multiple languages": the source language of intermediate data in several languages. It
# has no typology of its own (lang2vec's entry for it is wholly imputed), so its distances are unknown.
MULTILINGUAL = "mul"


class Source(NamedTuple):
    """A transfer source: train on ``task`` in ``language`` (``size`` examples, when known)."""

    task: str
    language: str
    size: float | None = None

    def label(self) -> str:
        return f"{self.task}/{self.language}"


LINGUISTIC = (
    [f"dist_{d}" for d in DISTANCES]
    + [f"target_eng_{d}" for d in DISTANCES]
    + [f"closer_than_eng_{d}" for d in DISTANCES]
    + ["target_imputed", "source_imputed", "target_uriel_missing", "source_uriel_missing"]
)
RESOURCE = ["target_cc100", "target_cc100_present", "source_cc100", "source_cc100_present",
            "log_source_size", "source_size_missing"]
TASK = ["same_task", "same_format", "same_level", "source_is_english", "n_source_tasks",
        "source_task_known", "source_format", "source_level", "target_format", "target_level",
        "source_log_train", "source_headroom", "target_headroom", "target_task_code"]
FEATURE_NAMES: tuple[str, ...] = tuple(LINGUISTIC + RESOURCE + TASK)
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "linguistic": tuple(LINGUISTIC), "resource": tuple(RESOURCE), "task": tuple(TASK),
}
INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
# Categorical columns hold small integer codes (LightGBM is told they are categorical).
CATEGORICAL = ("source_format", "source_level", "target_format", "target_level")


def _task_parts(task_id: str) -> list[Task | None]:
    reg = registry()
    return [reg.lookup(part) for part in task_id.split("+")]


def _task_row(source_task: str, target: Task | None) -> list[float]:
    parts = _task_parts(source_task)
    known = [p for p in parts if p is not None]
    first = known[0] if len(known) == len(parts) and known else None
    nan = math.nan

    def code(values: Sequence[str], value: str | None) -> float:
        return float(values.index(value)) if value in values else nan

    same_task = float(target is not None and len(parts) == 1 and first is not None and first.id == target.id)
    if target is None or not known:
        same_format = same_level = nan
    else:
        same_format = float(any(p.format == target.format for p in known))
        same_level = float(any(p.level == target.level for p in known))
    sizes = [p.train_size for p in known if p.train_size is not None]
    headrooms = [h for p in known if (h := p.headroom) is not None]
    return [
        same_task, same_format, same_level, nan,  # source_is_english is filled per language below
        float(len(parts)), float(len(known) == len(parts)),
        code(FORMATS, first.format if first else None), code(LEVELS, first.level if first else None),
        code(FORMATS, target.format if target else None), code(LEVELS, target.level if target else None),
        math.log10(1.0 + sum(sizes)) if sizes else nan,
        # Difficulty compares two tasks: it is set on rows of an intermediate source (its own and the target's);
        # for a same-task source it would be one constant per target task, which orders nothing within a query.
        float(np.mean(headrooms)) if headrooms and not same_task else nan,
        nan if same_task or target is None or target.headroom is None else float(target.headroom),
        nan,  # target_task_code: an index into the model's own task vocabulary, filled by the model
    ]


class FeatureBuilder:
    """Builds feature matrices; holds the language features and per-task rows it reuses."""

    def __init__(self, languages: LanguageFeatures | None = None) -> None:
        self.languages = languages if languages is not None else get_language_features()
        self._task_cache: dict[tuple[str, str], list[float]] = {}
        self._lang_cache: dict[str, tuple[float, float, float, float]] = {}

    def _lang_row(self, code: str) -> tuple[float, float, float, float]:
        """(imputed fraction, URIEL missing flag, CC-100 log GiB, CC-100 present) for a language."""
        row = self._lang_cache.get(code)
        if row is None:
            lf = self.languages
            if code == MULTILINGUAL:
                self._lang_cache[code] = (math.nan, 1.0, 0.0, 0.0)
                return self._lang_cache[code]
            imputed = lf.imputed_fraction(code)
            cc, present = lf.cc100_log_gib(code)
            row = (float(np.mean(list(imputed.values()))), float(not lf.known(code)), cc, float(present))
            self._lang_cache[code] = row
        return row

    def _task_features(self, source_task: str, target_task: str) -> list[float]:
        key = (source_task, target_task)
        row = self._task_cache.get(key)
        if row is None:
            row = _task_row(source_task, registry().lookup(target_task))
            self._task_cache[key] = row
        return row

    def build(self, target_task: str, target_language: str, sources: Sequence[Source]) -> np.ndarray:
        """Features of each source for one query: shape (len(sources), len(FEATURE_NAMES)), float64."""
        n = len(sources)
        out = np.full((n, len(FEATURE_NAMES)), np.nan)
        if n == 0:
            return out
        src_langs = [s.language for s in sources]
        dist = self.languages.distance_matrix([target_language], src_langs)[0]  # (n, 6), DISTANCES order
        dist[[lang == MULTILINGUAL for lang in src_langs]] = np.nan
        tgt_eng = self.languages.distance_matrix([target_language], [ENGLISH])[0, 0]  # (6,)
        out[:, _cols("dist_")] = dist
        out[:, _cols("target_eng_")] = tgt_eng
        out[:, _cols("closer_than_eng_")] = tgt_eng[None, :] - dist
        t_imp, t_missing, t_cc, t_present = self._lang_row(target_language)
        s_rows = np.array([self._lang_row(lang) for lang in src_langs])
        sizes = np.array([np.nan if s.size is None else s.size for s in sources], dtype=float)
        for name, value in (("target_imputed", t_imp), ("source_imputed", s_rows[:, 0]),
                            ("target_uriel_missing", t_missing), ("source_uriel_missing", s_rows[:, 1]),
                            ("target_cc100", t_cc), ("target_cc100_present", t_present),
                            ("source_cc100", s_rows[:, 2]), ("source_cc100_present", s_rows[:, 3]),
                            ("log_source_size", np.log10(1.0 + sizes)),
                            ("source_size_missing", np.isnan(sizes).astype(float))):
            out[:, INDEX[name]] = value
        out[:, [INDEX[name] for name in TASK]] = np.array([self._task_features(s.task, target_task) for s in sources])
        out[:, INDEX["source_is_english"]] = np.array([lang == ENGLISH for lang in src_langs], dtype=float)
        return out


def _cols(prefix: str) -> list[int]:
    """The six distance columns that start with ``prefix``, in ``DISTANCES`` order."""
    return [INDEX[f"{prefix}{d}"] for d in DISTANCES]
