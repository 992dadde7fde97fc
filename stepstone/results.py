"""A training matrix's output folder into the run store: the bridge from the trainer to the store.

``trainer.matrix.results`` reads every finished job's runs (no torch); the Service's store takes
them. Neither half knows the other, so the join lives here, above both.
"""

from __future__ import annotations

from pathlib import Path

from recommender.service import Service
from trainer.matrix.results import ResultsImport, import_results


def import_matrix_results(service: Service, out_dir: str | Path) -> ResultsImport:
    """The runs of ``out_dir``'s finished jobs, baselines filled, into ``service``'s store (idempotent)."""
    return import_results(Path(out_dir), service.store)
