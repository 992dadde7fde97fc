"""GPU-hours of a cell, estimated from training-set sizes and a throughput the user sets.

A cell is one source for one target task, evaluated in one target language. The trainer runs it
as the X-STILTs pipeline (``docs/trainer.md``):

* an **intermediate** source (``mnli`` → ``xnli``): phase 1 trains on the intermediate task's
  English data, phase 2 fine-tunes on the target task's English training set;
* a **source-language** source (``udpos`` in German → ``udpos``): one phase, fine-tuning on the
  target task's training data in that language.

Training tokens = epochs × examples × tokens per example; GPU-hours = tokens / (tokens per
second × 3600), at the rate the trainer's own loop was measured at on an H200 for XLM-R Large's
shape at the task's sequence length, plus the graph capture a phase pays once
(``feature_store.throughput``), or at a rate the user gives.
Epochs follow the trainer's X-STILTs recipe (jiant's configs, Phang et al. 2020):
``EPOCHS`` per target task, 2 for extractive QA, 3 otherwise; a multi-task phase the longest.
Examples come from the task registry (``train_size``: English training sets; ``ASSUMED_SIZES``
where it has none) or, for a source-language cell, the source size the store's runs carry
(``source_size``), else the registry's English size. Tokens per example: the registry's
``mean_input_tokens`` where it was measured, else an assumption per format (``TOKENS_PER_EXAMPLE``).
Evaluating one more language with a model that is trained anyway is not counted: the trainer
evaluates every language of a source in the job that trains it, so cells that share a source
share its training cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feature_store import throughput
from feature_store.errors import InvalidRequest
from feature_store.tasks import Task, registry
from recommender.answers.entry import Entry
from recommender.answers.types import Cost

# Epochs per phase, as the trainer's X-STILTs recipe sets them (trainer/cell/recipe.py).
EPOCHS: dict[str, float] = {"xnli": 2.0, "pawsx": 5.0, "udpos": 10.0, "wikiann": 10.0}
QA_EPOCHS = 2.0
DEFAULT_EPOCHS = 3.0
# Mean XLM-R tokens per training example (specials included; a multiple-choice example is one
# sequence per choice). Assumptions, used where the registry has no measured mean_input_tokens.
TOKENS_PER_EXAMPLE: dict[str, float] = {
    "classification": 32.0, "pair-classification": 48.0, "extractive-qa": 190.0,
    "multiple-choice": 4 * 70.0, "tagging": 24.0, "retrieval": 0.0,
}
UNKNOWN_TOKENS = 64.0  # a task the registry does not know
# Training sizes the registry leaves out, assumed as the trainer assumes them: CCGbank's training
# sections are about 40,000 sentences.
ASSUMED_SIZES: dict[str, int] = {"ccg": 40_000}


@dataclass(frozen=True)
class Phase:
    """One training phase of a cell: task, examples, tokens per example, epochs and GPU-hours."""

    task: str
    examples: float | None
    tokens_per_example: float
    gpu_hours: float | None
    epochs: float = DEFAULT_EPOCHS


def epochs(task: Task | None) -> float:
    if task is None:
        return DEFAULT_EPOCHS
    if task.format == "extractive-qa":
        return QA_EPOCHS
    return EPOCHS.get(task.id, DEFAULT_EPOCHS)


def tokens_per_example(task: Task | None) -> float:
    if task is None:
        return UNKNOWN_TOKENS
    if task.mean_input_tokens:
        return float(task.mean_input_tokens)
    return TOKENS_PER_EXAMPLE.get(task.format, UNKNOWN_TOKENS)


def check_rate(tokens_per_second: float) -> float:
    if not isinstance(tokens_per_second, int | float) or isinstance(tokens_per_second, bool) \
            or not tokens_per_second > 0 or tokens_per_second != tokens_per_second:
        raise InvalidRequest(f"tokens per second must be a positive number, got {tokens_per_second!r}")
    return float(tokens_per_second)


def measured_rate(task: Task | None) -> float:
    """The trainer's measured tokens/s for XLM-R Large's shape on this task's sequences."""
    per = tokens_per_example(task)
    sequences = 4.0 if task is not None and task.format == "multiple-choice" else 1.0  # one per choice
    return throughput.tokens_per_second(None, per / sequences)


def _hours(tokens: float, task: Task | None, tokens_per_second: float | None) -> float:
    if tokens_per_second is not None:
        return tokens / (tokens_per_second * 3600.0)
    return (tokens / measured_rate(task) + throughput.capture_seconds(None)) / 3600.0


def phase(task_id: str, examples: float | None, tokens_per_second: float | None) -> Phase:
    """One phase; ``tokens_per_second`` None prices it at the trainer's measured rate."""
    task = registry().lookup(task_id)
    n = examples if examples is not None else (task.train_size if task is not None else None)
    if n is None and task is not None:
        n = ASSUMED_SIZES.get(task.id)
    per = tokens_per_example(task)
    passes = epochs(task)
    hours = None if n is None else _hours(passes * float(n) * per, task, tokens_per_second)
    return Phase(task.id if task is not None else task_id, n, per, hours, passes)


def cell_phases(target: Task, source_task: str, source_size: float | None, kind: str,
                tokens_per_second: float | None) -> list[Phase]:
    """The training phases of one cell (``kind`` is ``intermediate`` or ``language``)."""
    if kind == "language":
        return [phase(target.id, source_size, tokens_per_second)]
    parts = [phase(t, None, tokens_per_second) for t in source_task.split("+")]
    examples = [p.examples for p in parts]
    total = None if None in examples else sum(e or 0.0 for e in examples)
    # A multi-task phase trains on the union for the longest of its tasks' epochs; its tokens per
    # example are the size-weighted mean.
    passes = max(p.epochs for p in parts)
    per = sum((p.examples or 0.0) * p.tokens_per_example for p in parts) / total if total else \
        sum(p.tokens_per_example for p in parts) / len(parts)
    longest = max(parts, key=lambda p: p.tokens_per_example).task
    hours = None if total is None else _hours(passes * total * per, registry().lookup(longest), tokens_per_second)
    first = Phase(source_task, total, per, hours, passes)
    return [first, phase(target.id, None, tokens_per_second)]


def cell_hours(phases: list[Phase]) -> float | None:
    hours = [p.gpu_hours for p in phases]
    return None if None in hours else round(sum(h or 0.0 for h in hours), 3)


def run_costs(target: Task, entries: Sequence[Entry], names: Sequence[str]) -> list[Cost]:
    """What one run of each named entry costs, at the trainer's measured rate ("measure first" advice)."""
    out = []
    for e in entries:
        if e.label() in names:
            hours = cell_hours(cell_phases(target, e.source.task, e.source.size, e.kind, None))
            out.append(Cost(source_task=e.source.task, source_language=e.source.language, gpu_hours=hours,
                            rate="the trainer's measured tokens/s for XLM-R Large's shape on these tasks' sequences "
                                 "(`stepstone plan` prices the same way)"))
    return out


__all__ = ["EPOCHS", "QA_EPOCHS", "DEFAULT_EPOCHS", "measured_rate", "epochs", "TOKENS_PER_EXAMPLE",
           "run_costs", "Phase", "cell_phases", "cell_hours", "check_rate", "tokens_per_example"]
