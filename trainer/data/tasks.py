"""The trainer's own task table: task id -> input format, metric and label set.

``feature_store/tasks.py`` holds the project's task registry (features for the ranker). The
trainer keeps this small table of its own so that it needs nothing from the ranker's side to
train: it knows the X-STILTs intermediate tasks and the XTREME targets, and for any other id it
infers the format from the fields of the first training record and the labels from the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feature_store.errors import InvalidRequest

FORMATS = ("classification", "pair", "qa", "mc", "tagging", "retrieval")

NLI_LABELS = ("entailment", "neutral", "contradiction")
BINARY_LABELS = ("0", "1")
UPOS_TAGS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
CONLL_TAGS = (*PANX_TAGS, "B-MISC", "I-MISC")


@dataclass(frozen=True)
class TaskSpec:
    """What the trainer needs to know about a task."""

    id: str  # canonical lower-case id, written into runs
    format: str  # one of FORMATS: picks the head, the features and the metric code
    metric: str  # the score written into runs: "accuracy", "f1" (both 0-100) or "mcc" (-100-100)
    labels: tuple[str, ...] | None = None  # class / tag names; None = read from the training data
    aliases: tuple[str, ...] = ()  # other spellings, also tried as data folder names
    other_tags_to_o: bool = False  # tagging: entity types outside `labels` are read as O


_TASKS = (
    # X-STILTs intermediate tasks (Phang et al. 2020)
    TaskSpec("mnli", "pair", "accuracy", NLI_LABELS, ("multinli", "multi_nli")),
    TaskSpec("anli", "pair", "accuracy", NLI_LABELS),
    # ANLI+ (X-STILTs): ANLI with MNLI and SNLI added, a task of its own with its own data folder
    TaskSpec("anli+", "pair", "accuracy", NLI_LABELS, ("anliplus", "anli_plus")),
    TaskSpec("snli", "pair", "accuracy", NLI_LABELS),
    TaskSpec("qqp", "pair", "accuracy", BINARY_LABELS),
    TaskSpec("sst2", "classification", "accuracy", BINARY_LABELS, ("sst-2", "sst")),
    TaskSpec("squad", "qa", "f1", None, ("squad1.1", "squad_v1", "squadv1")),
    TaskSpec("squad_v2", "qa", "f1", None, ("squad2.0", "squadv2", "squad2")),
    TaskSpec("hellaswag", "mc", "accuracy"),
    TaskSpec("cosmosqa", "mc", "accuracy", None, ("cosmos_qa",)),
    TaskSpec("commonsenseqa", "mc", "accuracy", None, ("csqa", "commonsense_qa")),
    TaskSpec("ccg", "tagging", "accuracy", None, ("ccgbank",)),
    # GLUE and other English tasks read in their published layouts
    TaskSpec("cola", "classification", "mcc", BINARY_LABELS),  # GLUE scores CoLA by Matthews correlation
    TaskSpec("rte", "pair", "accuracy", ("entailment", "not_entailment")),
    TaskSpec("qnli", "pair", "accuracy", ("entailment", "not_entailment")),
    TaskSpec("mrpc", "pair", "accuracy", BINARY_LABELS),
    TaskSpec("conll2003", "tagging", "f1", CONLL_TAGS, ("conll03", "conll-2003")),
    # XTREME targets
    TaskSpec("xnli", "pair", "accuracy", NLI_LABELS),
    TaskSpec("pawsx", "pair", "accuracy", BINARY_LABELS, ("paws-x", "paws_x")),
    TaskSpec("udpos", "tagging", "f1", UPOS_TAGS, ("pos", "ud-pos", "ud_pos")),
    TaskSpec("panx", "tagging", "f1", PANX_TAGS, ("pan-x", "ner", "wikiann")),
    TaskSpec("xquad", "qa", "f1"),
    TaskSpec("mlqa", "qa", "f1"),
    TaskSpec("tydiqa", "qa", "f1", None, ("tydiqa-goldp", "tydiqa_goldp")),
    TaskSpec("bucc", "retrieval", "f1", None, ("bucc2018", "bucc18")),
    TaskSpec("tatoeba", "retrieval", "accuracy"),
    TaskSpec("xcopa", "mc", "accuracy", None, ("copa",)),
    # other multilingual targets
    TaskSpec("masakhaner", "tagging", "f1", PANX_TAGS, ("masakhaner2", "masakhaner2.0"), other_tags_to_o=True),
    TaskSpec("sib200", "classification", "accuracy", None, ("sib-200", "sib")),
)
_BY_NAME = {name: t for t in _TASKS for name in (t.id, *t.aliases)}


def known_task(task_id: str) -> TaskSpec | None:
    """The table's entry for an id or alias (case-insensitive), or None."""
    return _BY_NAME.get(task_id.strip().lower())


def folder_names(task_id: str) -> list[str]:
    """Folder names to look for a task's data under: as written, then the id and its aliases."""
    names = [task_id.strip(), task_id.strip().lower()]
    spec = known_task(task_id)
    if spec is not None:
        names += [spec.id, *spec.aliases]
    return list(dict.fromkeys(names))


def infer_format(record: dict[str, object]) -> str | None:
    """The format that a canonical JSONL record's fields imply (None if none fits)."""
    keys = set(record)
    if {"tokens", "tags"} <= keys:
        return "tagging"
    if "choices" in keys:
        return "mc"
    if {"context", "question", "answers"} <= keys:
        return "qa"
    if {"text_a", "text_b"} <= keys:
        return "pair"
    if "text" in keys:
        return "classification"
    if {"source", "target"} & keys:
        return "retrieval"
    return None


def split_sources(source_task: str) -> list[str]:
    """``"mnli+squad"`` -> ``["mnli", "squad"]``; each part once, order kept."""
    # "+" joins tasks, but a trailing "+" belongs to the name ("anli+", "anli++mnli").
    parts = [p.strip() for p in re.split(r"\+(?=[^+])", source_task.strip()) if p.strip()]
    if not parts:
        raise InvalidRequest(f"empty source task {source_task!r}")
    return list(dict.fromkeys(parts))


def canonical_id(task_id: str) -> str:
    """The id written into runs: the table's id for a known task, else the id lower-cased."""
    spec = known_task(task_id)
    return spec.id if spec is not None else task_id.strip().lower()
