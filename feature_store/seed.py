"""The embedded default data: the shipped transfer matrices and the intermediate-step results
(``feature_store.evidence.intermediate_runs``), imported into the store on first use."""

from __future__ import annotations

from importlib import resources

from feature_store.evidence import intermediate_runs
from feature_store.runs import ImportResult, Run, RunStore, parse_csv_text

SHIPPED_MATRICES = ("langrankplus_xtreme_xlmr.csv", "devries2022_udpos_xlmr_base.csv")
# Bump when the shipped files change, so existing stores pick up the new rows.
SEED_VERSION = "2"


def shipped_runs() -> list[Run]:
    """Every run of the shipped matrices (validated like any import)."""
    runs: list[Run] = []
    data = resources.files("feature_store").joinpath("data")
    for name in SHIPPED_MATRICES:
        runs.extend(parse_csv_text(data.joinpath(name).read_text(encoding="utf-8"), name))
    return runs


def ensure_seeded(store: RunStore) -> ImportResult | None:
    """Import the shipped runs once per store (idempotent); None when already seeded."""
    if store.get_meta("seed_version") == SEED_VERSION:
        return None
    result = store.insert([*shipped_runs(), *intermediate_runs()])
    store.set_meta("seed_version", SEED_VERSION)
    return result
