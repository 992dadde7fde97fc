"""Training tokens and GPU-hours of a job, from the shipped training-set sizes (no torch, no data read).

``stepstone train plan`` prints these estimates beside every job, and ``bench/trainer_throughput.py``
uses the same tables for its matrix estimate. Sizes come from ``feature_store/data``
(``intermediate_task_sizes.csv``, ``xtreme_target_task_stats.csv``); tokens per example are
assumptions (mean XLM-R SentencePiece tokens per sequence, specials included, and sequences per
example: a multiple-choice example feeds one sequence per choice). A job is priced at the rate the
trainer's own loop was measured at on an H200 (``feature_store.throughput``: the nearest measured
model shape, at the task's sequence length, plus the graph capture a phase pays once); a rate
given by hand replaces it.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

from feature_store import throughput

DATA = Path(__file__).resolve().parents[2] / "feature_store" / "data"

# task id -> (name in the shipped CSVs, tokens per sequence, sequences per example)
TASKS: dict[str, tuple[str, int, int]] = {
    "mnli": ("MNLI", 48, 1),
    "anli": ("ANLI+", 48, 1),
    "qqp": ("QQP", 32, 1),
    "sst2": ("SST-2", 16, 1),
    "squad": ("SQuAD v1.1", 190, 1),
    "squad_v2": ("SQuAD v2.0", 190, 1),
    "hellaswag": ("HellaSwag", 70, 4),
    "cosmosqa": ("CosmosQA", 120, 4),
    "commonsenseqa": ("CommonsenseQA", 22, 5),
    "ccg": ("CCG", 32, 1),
    "xnli": ("XNLI", 48, 1),
    "pawsx": ("PAWS-X", 60, 1),
    "udpos": ("POS", 24, 1),
    "panx": ("NER", 14, 1),
    "xquad": ("XQuAD", 190, 1),
    "mlqa": ("MLQA", 190, 1),
    "tydiqa": ("TyDiQA-GoldP", 160, 1),
}
CCG_ASSUMED_SIZE = 40_000  # not in the shipped data; CCGbank's training sections are about this size
PADDING_EFFICIENCY = 0.9  # share of real tokens in length-grouped, dynamically padded batches (assumed)
# XLM-R Large (303M non-embedding parameters) at 40 % of the H200's 989 TFLOP/s: a projection.
PROJECTED_TOKENS_PER_S = 200_000.0


def _count(text: str) -> int:
    return int(text.replace(",", ""))


@cache
def training_sizes() -> dict[str, int]:
    """Display name -> English training examples, from the shipped CSVs."""
    sizes: dict[str, int] = {}
    with open(DATA / "intermediate_task_sizes.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["intermediate_task"]
            if name.startswith("ANLI+"):
                # jiant's "full ANLI" = SNLI + MNLI + ANLI rounds 1-3 (the CSV's note: not verified)
                sizes["ANLI+"] = sizes.get("ANLI+", 0) + _count(row["num_examples"])
            elif name == "CCG":
                sizes["CCG"] = _count(row["num_examples"]) if row["num_examples"] else CCG_ASSUMED_SIZE
            else:
                sizes[name] = _count(row["num_examples"])
    sizes["ANLI+"] = sizes.get("ANLI+", 0) + sizes["MNLI"]
    with open(DATA / "xtreme_target_task_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["train"] != "-":
                sizes[row["target_task"]] = _count(row["train"])
    return sizes


def examples(task: str) -> int | None:
    """Training examples of a task id (None for a task the tables do not know)."""
    entry = TASKS.get(task)
    return training_sizes().get(entry[0]) if entry else None


def tokens(task: str, n_examples: int, epochs: float) -> float | None:
    """Training tokens of ``epochs`` passes over ``n_examples`` of ``task`` (None if unknown)."""
    entry = TASKS.get(task)
    if entry is None:
        return None
    _, per_seq, seqs = entry
    return epochs * n_examples * per_seq * seqs


def gpu_hours(
    token_count: float | None, tokens_per_s: float | None = None, *, tasks: tuple[str, ...] = (),
    params: int | None = None, packed: int = 1,
) -> float | None:
    """GPU-hours of a phase that trains ``token_count`` tokens of ``tasks``: at ``tokens_per_s`` (a
    rate of padded tokens, as a projection gives it) where given, else at the measured rate of the
    model shape nearest ``params`` for those tasks' sequence length, ``packed`` phases to a GPU."""
    if token_count is None:
        return None
    if tokens_per_s:
        return round(token_count / (tokens_per_s * PADDING_EFFICIENCY) / 3600, 3)
    length = max((TASKS[t][1] for t in tasks if t in TASKS), default=64)
    rate = throughput.tokens_per_second(params, length, packed=packed > 1)
    seconds = token_count / rate + throughput.capture_seconds(params)
    return round(seconds / packed / 3600, 3)


def model_params(model: Path) -> int | None:
    """Non-embedding parameters of the encoder in ``model`` (its config.json; None if unreadable)."""
    try:
        cfg = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
        layers, hidden = int(cfg["num_hidden_layers"]), int(cfg["hidden_size"])
        ffn = int(cfg.get("intermediate_size", 4 * hidden))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # per layer: Q, K, V, O with biases, the two FFN matrices with biases, two LayerNorms
    return layers * (4 * hidden * hidden + 4 * hidden + 2 * hidden * ffn + ffn + hidden + 4 * hidden)
