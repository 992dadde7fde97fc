"""The X-STILTs recipe: per-task defaults that a ``[train]`` table may override.

From jiant's X-STILTs configs (Phang et al. 2020, arXiv 2005.13013): epochs XNLI 2, PAWS-X 5,
UD-POS 10, PAN-X 10, QA 2; batch 32 (QA 16); learning rate 1e-5; 256 tokens for sentence-pair,
classification and tagging, 384 with stride 128 for QA (``TrainConfig``'s own defaults).
Intermediate tasks and targets without a published value train for 3 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainer.config import TrainConfig
from trainer.data.tasks import TaskSpec

EPOCHS = {
    "xnli": 2.0,
    "pawsx": 5.0,
    "udpos": 10.0,
    "panx": 10.0,
    "masakhaner": 10.0,
    "conll2003": 10.0,
}
QA_EPOCHS = 2.0
DEFAULT_EPOCHS = 3.0
BATCH = 32
QA_BATCH = 16


@dataclass(frozen=True)
class PhaseRecipe:
    epochs: float  # passes over the phase's data
    batch_size: int  # global batch


def phase_recipe(cfg: TrainConfig, tasks: list[TaskSpec]) -> PhaseRecipe:
    """The epochs and global batch of a phase that trains ``tasks`` (one, or several in phase 1).

    A multi-task phase takes the longest of its tasks' epochs, and the QA batch only when every
    task is QA.
    """
    epochs = cfg.epochs
    if epochs is None:
        epochs = max(QA_EPOCHS if t.format == "qa" else EPOCHS.get(t.id, DEFAULT_EPOCHS) for t in tasks)
    batch = cfg.batch_size
    if batch is None:
        batch = QA_BATCH if all(t.format == "qa" for t in tasks) else BATCH
    return PhaseRecipe(epochs, batch)
