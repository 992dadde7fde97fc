"""Published evidence about intermediate tasks, parsed once from the shipped facts.

Three kinds, most specific first (the evidence ladder of DESIGN.md, "What an answer is"):

- ``intermediate_runs()``: real per-language results *with an intermediate step* (X-CSR and the
  BLOOMZ/mT0 table, ``data/intermediate_*.csv``) mapped to the run schema, so that the model
  learns from them like from any other run. A multilingual intermediate set has the source
  language ``MULTILINGUAL`` (``mul``, ISO 639-3 "multiple languages").
- ``per_target(task)``: the published X-STILTs figure for one target task — the best intermediate
  task's average over languages against plain XLM-R Large (RemBERT paper, Table 16).
- ``literature_priors()``: the X-STILTs average gains per intermediate task over *all* target
  tasks (Phang et al. 2020); ``published_findings(task)`` are the paper's qualitative findings
  that name a target task.

``language_deviations()`` is how much a per-language gain strays from its average over
languages in the measured intermediate-step results: it sets the width of every published
figure's interval (``recommender.answers.ladder``). Everything is read on first use and cached.
"""

from __future__ import annotations

import csv
import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources

from feature_store.features import MULTILINGUAL
from feature_store.runs.files import parse_records
from feature_store.runs.run import Run
from feature_store.tasks import Task, canonical_task, registry

XCSR_FILE = "intermediate_xcsr_mcp.csv"
XMTF_FILE = "intermediate_xmtf_multitask_mixture.csv"
# The nine X-STILTs intermediate tasks (Phang et al. 2020): "multi-task" is all of them at once.
XSTILTS_TASKS = ("anli", "ccg", "cosmosqa", "csqa", "hellaswag", "mnli", "qqp", "squad", "sst2")
# X-STILTs target names in the published tables → registry ids.
_TARGET_NAMES = {"XNLI": "xnli", "POS": "udpos", "NER": "wikiann", "PAWS-X": "pawsx", "XQuAD": "xquad",
                 "MLQA": "mlqa", "TyDiQA-GoldP": "tydiqa"}
# BLOOMZ/mT0 intermediate data (the table's source_task prefix) → (source task id, source language).
_XMTF_SOURCES = {"P3": ("p3", "eng"), "xP3": ("xp3", MULTILINGUAL), "xP3mt": ("xp3mt", MULTILINGUAL)}
# Zero-shot *prompting* (no target fine-tuning) is another protocol than XLM-R's fine-tuning on English:
# its target tasks get their own ids, so that its gains never stand in for a fine-tuned XNLI's.
_XMTF_TARGETS = {"xnli": "xnli-prompted", "xcopa": "xcopa-prompted", "xstory_cloze": "xstorycloze-prompted",
                 "xwinograd": "xwinograd-prompted"}


def _data(name: str) -> str:
    return resources.files("feature_store").joinpath("data").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Prior:
    """A published average gain of one intermediate task (English), in points."""

    source_task: str
    gain: float
    claim: str


@dataclass(frozen=True)
class PerTarget:
    """X-STILTs on one target task: the best intermediate task's average against plain XLM-R Large."""

    target_task: str
    xstilts: float
    baseline: float
    metric: str
    source: str

    @property
    def gain(self) -> float:
        return round(self.xstilts - self.baseline, 3)

    @property
    def claim(self) -> str:
        return (f"X-STILTs, best intermediate task for {registry().get(self.target_task).name}: {self.xstilts:g} vs "
                f"{self.baseline:g} {self.metric} for plain XLM-R Large, averaged over its languages "
                f"({self.gain:+.1f} points; {self.source})")


@functools.lru_cache(maxsize=1)
def _claims() -> tuple[dict[str, str], ...]:
    return tuple(csv.DictReader(_data("xstilts_claims.csv").splitlines()))


@functools.lru_cache(maxsize=1)
def literature_priors() -> tuple[Prior, ...]:
    """Average X-STILTs gains per intermediate task over all target tasks, best first."""
    out = []
    for row in _claims():
        if row["claim"] != "avg_gain_over_xlmr_large":
            continue
        name = row["intermediate_task"]
        task_id = "+".join(sorted(XSTILTS_TASKS)) if name.startswith("multi-task") else canonical_task(name)
        out.append(Prior(task_id, float(row["value"]),
                         f"{name}: +{row['value']} points on average over all XTREME target tasks "
                         "(Phang et al. 2020)"))
    return tuple(sorted(out, key=lambda p: -p.gain))


@functools.lru_cache(maxsize=1)
def _per_target() -> dict[str, PerTarget]:
    """The RemBERT paper's Table 16 rows (the one source that has every target, POS included)."""
    pairs: dict[str, dict[str, float]] = defaultdict(dict)
    metric: dict[str, str] = {}
    for row in csv.DictReader(_data("xstilts_task_level_averages.csv").splitlines()):
        task = _TARGET_NAMES.get(row["target_task"])
        if task is None or not row["source"].startswith("RemBERT"):
            continue
        unit = row["metric"].split(";")[0].strip()
        if unit == "EM":
            continue  # the registry's metric for QA is F1
        who = "baseline" if row["intermediate_task"] == "none" else "xstilts"
        pairs[task][who] = float(row["score"])
        metric[task] = unit
    return {t: PerTarget(t, v["xstilts"], v["baseline"], metric[t], "RemBERT paper, Appendix Table 16")
            for t, v in pairs.items() if {"xstilts", "baseline"} <= set(v)}


def per_target(task_id: str) -> PerTarget | None:
    """The published X-STILTs figure for one target task, or None where none is published."""
    return _per_target().get(canonical_task(task_id))


def per_target_gains() -> dict[str, float]:
    """Every target task's published X-STILTs gain (best intermediate task − XLM-R Large), in points."""
    return {t: p.gain for t, p in sorted(_per_target().items())}


@functools.lru_cache(maxsize=256)
def published_findings(target: Task) -> tuple[str, ...]:
    """Published qualitative findings about ``target`` (as warnings an answer can carry)."""
    name = target.name.lower()
    return tuple(f"published finding for {target.name}: {row['source'].split(': ', 1)[-1]}"
                 for row in _claims()
                 if row["claim"] == "qualitative" and name in row["target_task"].lower().split(";"))


# -- real per-language results with an intermediate step ----------------------------------------------
def _xcsr_records() -> list[dict[str, object]]:
    """X-CSR: MCP (multilingual) then English fine-tuning, and the English-only baseline as its own run."""
    out: list[dict[str, object]] = []
    for row in csv.DictReader(_data(XCSR_FILE).splitlines()):
        task = row["target_task"].lower().replace("-", "")
        common = {"dataset": "xcsr", "model": row["model"], "target_task": task,
                  "target_language": row["target_language"], "metric": "accuracy"}
        out.append({**common, "source_task": "mcp", "source_language": MULTILINGUAL, "score": row["score"],
                    "baseline_score": row["baseline_score"]})
        out.append({**common, "source_task": task, "source_language": "eng", "score": row["baseline_score"]})
    return out


def _xmtf_records() -> list[dict[str, object]]:
    """BLOOMZ/mT0: English-only P3 vs multilingual xP3 / xP3mt intermediate data, one setting per base model."""
    out: list[dict[str, object]] = []
    for row in csv.DictReader(_data(XMTF_FILE).splitlines()):
        source = _XMTF_SOURCES.get(row["source_task"].split(" ")[0])
        if source is None or not row["target_language"]:
            continue
        out.append({"dataset": "xmtf", "model": row["base_model"], "target_task": _XMTF_TARGETS[row["target_task"]],
                    "target_language": row["target_language"], "source_task": source[0],
                    "source_language": source[1], "score": row["score"], "metric": "median accuracy over prompts",
                    "baseline_score": row["baseline_score"]})
    return out


@dataclass(frozen=True)
class ModelCard:
    """What an answer says about the model that measured its evidence (``data/models.csv``)."""

    model: str  # the runs' ``model`` value
    name: str
    parameters: str
    caveat: str  # empty where the runs need none (the published XLM-R settings)


@functools.lru_cache(maxsize=1)
def _model_cards() -> dict[str, ModelCard]:
    rows = csv.DictReader(_data("models.csv").splitlines())
    return {r["model"].strip().lower(): ModelCard(r["model"], r["name"], r["parameters"], r["caveat"]) for r in rows}


def model_card(model: str) -> ModelCard | None:
    """The shipped description of a model the runs name, or None for a model stepstone does not know."""
    return _model_cards().get(model.strip().lower())


@functools.lru_cache(maxsize=1)
def intermediate_runs() -> tuple[Run, ...]:
    """The shipped intermediate-step results in the run schema (validated like any import)."""
    return (*parse_records(_xcsr_records(), XCSR_FILE), *parse_records(_xmtf_records(), XMTF_FILE))


@functools.lru_cache(maxsize=1)
def language_deviations() -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Per-language gain minus its average over languages, and the group of each value.

    Over the shipped intermediate-step results of the fine-tuning protocol (the one the published
    X-STILTs figures use; zero-shot prompting is left out): one group per (dataset, model, target
    task, intermediate source) with a baseline, English targets left out. The spread of these
    values is how far one language's gain strays from a published average over languages.
    """
    prompted = set(_XMTF_TARGETS.values())
    by_group: dict[str, list[float]] = defaultdict(list)
    for run in intermediate_runs():
        if run.source_task == canonical_task(run.target_task) or run.baseline_score is None \
                or run.target_language == "eng" or run.target_task in prompted:
            continue
        by_group[" · ".join((run.dataset, run.model, run.target_task, run.source_task))].append(
            run.score - run.baseline_score)
    values: list[float] = []
    groups: list[str] = []
    for group, gains in sorted(by_group.items()):
        if len(gains) < 3:
            continue
        mean = math.fsum(gains) / len(gains)
        values += [g - mean for g in gains]
        groups += [group] * len(gains)
    return tuple(values), tuple(groups)


__all__ = ["Prior", "PerTarget", "XSTILTS_TASKS", "intermediate_runs", "language_deviations",
           "literature_priors", "per_target", "per_target_gains", "published_findings"]
