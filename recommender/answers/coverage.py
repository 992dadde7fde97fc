"""Coverage warnings: when the model knows little about a target language, say what is missing.

Three checks, each naming what is missing:

- **URIEL features**: none at all (the code is not in lang2vec), or a typology group (syntax,
  phonology, inventory) mostly imputed (``IMPUTED_WARN`` or more of its features have no source
  data and were filled in by lang2vec's KNN imputation);
- **pretraining**: the language is not among XLM-R's 100 CC-100 pretraining languages;
- **nearest measured language**: no target language with runs of this task in the store is
  typologically closer than ``MAX_DISTANCE`` (URIEL featural distance: syntax + phonology +
  inventory); the nearest one is named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from feature_store.lang_features import GROUPS, LanguageFeatures
from feature_store.languages import language_name

IMPUTED_WARN = 0.5
# Median distance from a shipped UD-POS target to its nearest other target is 0.09; 0.2 is the
# 90th percentile: beyond it the model has seen nothing alike.
MAX_DISTANCE = 0.2
DISTANCE = "featural"


def uriel_warnings(code: str, lf: LanguageFeatures, threshold: float = IMPUTED_WARN) -> list[str]:
    name = f"{language_name(code)} ({code})"
    if not lf.known(code):
        return [f"no URIEL features for {name}: lang2vec has no entry for it, so every typological, "
                "genetic and geographic distance is unknown and the ranking rests on resource and "
                "task features"]
    imputed = lf.imputed_fraction(code)
    if all(v >= 1.0 for v in imputed.values()):
        return [f"no URIEL typology data for {name}: all of its syntax, phonology and inventory "
                "features are imputed from its neighbours"]
    heavy = [g for g in GROUPS if imputed[g] >= threshold]
    if not heavy:
        return []
    parts = ", ".join(f"{g} {imputed[g]:.0%}" for g in heavy)
    return [f"URIEL features of {name} are partly imputed (no source data for {parts} of the "
            f"features): its {' and '.join(heavy)} distances are guesses"]


def pretraining_warnings(code: str, lf: LanguageFeatures, model: str = "XLM-R") -> list[str]:
    if lf.cc100_log_gib(code)[1]:
        return []
    return [f"{language_name(code)} ({code}) is not among {model}'s pretraining languages (CC-100): "
            "the encoder has seen no text in it, so zero-shot transfer is weak and gains are hard "
            "to predict"]


def distance_warnings(code: str, measured: Sequence[str], lf: LanguageFeatures, task: str,
                      max_distance: float = MAX_DISTANCE) -> list[str]:
    """Warn when no target language measured for ``task`` is within ``max_distance`` of ``code``."""
    if not lf.known(code):
        return []  # covered by the URIEL warning
    if not measured:
        return [f"no target language has runs of {task} in the store: nothing measured to compare "
                f"{language_name(code)} with"]
    nearest = [(c, d) for c, d in lf.nearest(code, list(measured), DISTANCE) if not math.isnan(d)]
    if not nearest:
        return [f"none of the {len(measured)} target languages measured for {task} has URIEL "
                "features to compare with"]
    best, dist = nearest[0]
    if dist <= max_distance:
        return []
    return [f"no {task} run in the store has a target language within typological distance {max_distance:.2f} "
            f"of {language_name(code)} ({code}): the nearest measured target is {language_name(best)} "
            f"({best}) at {dist:.2f} ({DISTANCE} URIEL distance), so this is extrapolation"]


def coverage_warnings(code: str, task: str, measured: Sequence[str], lf: LanguageFeatures, *,
                      model: str = "XLM-R", max_distance: float = MAX_DISTANCE) -> list[str]:
    """All coverage warnings for target language ``code`` (resolved) and target task id ``task``."""
    return [*uriel_warnings(code, lf), *pretraining_warnings(code, lf, model),
            *distance_warnings(code, measured, lf, task, max_distance)]


__all__ = ["coverage_warnings", "uriel_warnings", "pretraining_warnings", "distance_warnings",
           "IMPUTED_WARN", "MAX_DISTANCE"]
