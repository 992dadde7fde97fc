"""The task registry: formats, levels, sizes and difficulty of known tasks (data/tasks.toml).

Task ids in runs may be anything: ``lookup`` maps aliases and versioned ids (``udpos_v2.8``) to
the registry, and returns ``None`` for unknown ids, which get "unknown" features downstream.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from feature_store.errors import UnknownTask

FORMATS = ("classification", "pair-classification", "extractive-qa", "multiple-choice", "tagging",
           "retrieval")
LEVELS = ("syntactic", "semantic", "reasoning", "retrieval")
KINDS = ("intermediate", "target")


@dataclass(frozen=True)
class Task:
    """One registry entry. Figures are None where nothing published was found."""

    id: str
    name: str
    kind: str
    format: str
    level: str
    metric: str
    train_size: int | None = None
    num_classes: int | None = None
    english_score: float | None = None
    mean_input_tokens: float | None = None
    languages: int | None = None
    source: str = ""
    aliases: tuple[str, ...] = field(default=())
    # The task's English training data when it is another registry task (MNLI for XNLI): never an
    # intermediate candidate of it, since training on it first is not a second task.
    english_train: str | None = None
    # Languages (ISO 639-3) in which the task's training data exists, with where that list comes from:
    # the source-language candidates a task has beyond the languages its runs use as sources.
    train_languages: tuple[str, ...] = field(default=())
    train_languages_source: str = ""

    @property
    def chance(self) -> float:
        """Chance level in points: 100 / classes for classification and multiple choice."""
        if self.num_classes and self.format in ("classification", "pair-classification",
                                                "multiple-choice"):
            return 100.0 / self.num_classes
        return 0.0

    @property
    def headroom(self) -> float | None:
        """Difficulty: share of the above-chance range the base model misses in English (0..1)."""
        if self.english_score is None:
            return None
        return max(0.0, 1.0 - (self.english_score - self.chance) / (100.0 - self.chance))

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "kind": self.kind, "format": self.format,
            "level": self.level, "metric": self.metric, "train_size": self.train_size,
            "num_classes": self.num_classes, "chance": self.chance,
            "english_score": self.english_score, "headroom": self.headroom,
            "mean_input_tokens": self.mean_input_tokens, "languages": self.languages,
            "aliases": list(self.aliases), "source": self.source,
            "train_languages": list(self.train_languages), "train_languages_source": self.train_languages_source,
        }


class TaskRegistry:
    """All known tasks, by id and alias."""

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = {t.id: t for t in tasks}
        self._alias = {a: t.id for t in tasks for a in (t.id, t.name.lower(), *t.aliases)}

    def lookup(self, task_id: str) -> Task | None:
        """The registry entry for an id, alias or versioned id; None when unknown."""
        key = task_id.strip().lower()
        if key in self._alias:
            return self.tasks[self._alias[key]]
        base = re.sub(r"[_-]v?\d+(\.\d+)*$", "", key)
        return self.tasks.get(self._alias.get(base, ""))

    def get(self, task_id: str) -> Task:
        """Like lookup, but an unknown id raises UnknownTask with suggestions."""
        task = self.lookup(task_id)
        if task is None:
            close = difflib.get_close_matches(task_id.strip().lower(), list(self._alias), n=3,
                                              cutoff=0.5)
            raise UnknownTask(task_id, sorted({self._alias[c] for c in close}))
        return task

    def intermediate(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.kind == "intermediate"]

    def targets(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.kind == "target"]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)


def parse_registry(text: str) -> TaskRegistry:
    data = tomllib.loads(text)
    tasks = []
    for task_id, entry in data.items():
        if entry.get("format") not in FORMATS:
            raise ValueError(f"task {task_id!r}: unknown format {entry.get('format')!r}")
        if entry.get("level") not in LEVELS:
            raise ValueError(f"task {task_id!r}: unknown level {entry.get('level')!r}")
        if entry.get("kind") not in KINDS:
            raise ValueError(f"task {task_id!r}: unknown kind {entry.get('kind')!r}")
        tasks.append(Task(id=task_id, aliases=tuple(entry.pop("aliases", ())),
                          train_languages=tuple(entry.pop("train_languages", ())), **entry))
    return TaskRegistry(tasks)


@lru_cache(maxsize=1)
def registry() -> TaskRegistry:
    """The shipped registry (parsed once per process)."""
    text = resources.files("feature_store").joinpath("data/tasks.toml").read_text(encoding="utf-8")
    return parse_registry(text)


def canonical_task(task_id: str) -> str:
    """The registry id for a known task, else the normalised id itself."""
    task = registry().lookup(task_id)
    return task.id if task else task_id.strip().lower()
