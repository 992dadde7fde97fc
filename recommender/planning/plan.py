"""One plan: a target task and languages in, the cells to measure next out (``Service.plan``).

Checks the request, builds each language's cells and belief (``cells``), picks the batch
(``planner``) and adds the matrix configs that run it (``matrix``). The Service hands in the
live model, the catalogue and the store's runs of the asked languages; nothing here reads the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from feature_store.errors import InvalidRequest
from feature_store.evidence import Prior
from feature_store.runs.run import Run
from feature_store.tasks import Task, canonical_task
from recommender.answers.candidates import Catalogue, candidate_pool, check_kind
from recommender.answers.ladder import published_items
from recommender.model.calibration import Calibration
from recommender.model.dataset import group_queries
from recommender.model.ranker import TransferRanker
from recommender.planning import matrix
from recommender.planning.cells import cell_key, language_plan
from recommender.planning.cost import check_rate, measured_rate
from recommender.planning.planner import MAX_CELLS, choose, total_hours

MAX_LANGUAGES = 50
CRITERION = ("expected improvement of the best measured cell of each target language (points of the task's "
             "metric): E[max(best, Y) - best] under a normal belief built from the model's predicted gains and "
             "their calibrated intervals, conditioned on the measured cells; a batch is chosen greedily by what "
             "each cell adds to the cells chosen before it")


def check_budget(budget: object, gpu_hours: object) -> tuple[int | None, float | None]:
    """Exactly one of a cell budget (1..MAX_CELLS) and a positive GPU-hour budget."""
    if (budget is None) == (gpu_hours is None):
        raise InvalidRequest("give exactly one of budget (cells) and gpu_hours")
    if budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool) or not 1 <= budget <= MAX_CELLS:
            raise InvalidRequest(f"budget must be an integer from 1 to {MAX_CELLS}, got {budget!r}")
        return budget, None
    if not isinstance(gpu_hours, int | float) or isinstance(gpu_hours, bool) or not math.isfinite(gpu_hours) \
            or gpu_hours <= 0:
        raise InvalidRequest(f"gpu_hours must be a positive number, got {gpu_hours!r}")
    return None, float(gpu_hours)


def check_languages(codes: Sequence[str]) -> list[str]:
    codes = list(dict.fromkeys(codes))
    if not codes:
        raise InvalidRequest("give one or more target languages")
    if len(codes) > MAX_LANGUAGES:
        raise InvalidRequest(f"at most {MAX_LANGUAGES} target languages per plan, got {len(codes)}")
    return codes


def published_priors(target: Task, level: float) -> tuple[Prior, ...]:
    """Intermediate cells to plan where no run of the target task has an intermediate source: the
    named tasks of the published rung of the answers' evidence ladder (``answers.ladder``)."""
    entries, _, _ = published_items(target, level)
    out = [Prior(e.source.task, e.gain, f"{e.basis}: {e.evidence}") for e in entries]
    return tuple(dict((p.source_task, p) for p in out).values())


def build_plan(model: TransferRanker, calibration: Calibration | None, builder: Any, catalogue: Catalogue,
               target: Task, codes: Sequence[str], runs: Sequence[Run], *, candidates: str = "all",
               budget: int | None = None, gpu_hours: float | None = None, tokens_per_second: float | None = None,
               setting_model: str | None = None) -> dict[str, Any]:
    """The plan answer (without ``model_version``): cells, summary, matrix grids and warnings."""
    check_kind(candidates)
    rate = None if tokens_per_second is None else check_rate(tokens_per_second)  # None: measured rates
    if calibration is None or model.gain_ is None:
        raise InvalidRequest("the live model has no gain model or interval calibration (too few runs with a "
                             "baseline); import runs and run `stepstone retrain`")
    warnings: list[str] = []
    plans = []
    for code in codes:
        mine = [r for r in runs if r.target_language == code and canonical_task(r.target_task) == target.id
                and (setting_model is None or r.model == setting_model)]
        keys = {cell_key(r.source_task, r.source_language) for r in mine}
        queries = group_queries(mine, exclude_self=True)
        measured = max(queries, key=lambda q: len(q.sources)) if queries else None
        pool, notes = candidate_pool(catalogue, target, code, candidates)
        priors: tuple[Prior, ...] = ()
        if candidates in ("all", "intermediate") and not catalogue.intermediate.get(target.id):
            priors = published_priors(target, calibration.level)
        plans.append(language_plan(model, calibration, builder, target, code, pool, priors, measured, keys, rate))
        warnings += [w for w in notes if w not in warnings]
    open_cells = sum(int((~p.belief.measured).sum()) for p in plans)
    if open_cells == 0:
        warnings.append("every candidate cell of these languages is measured: nothing to plan (try another "
                        "--candidates kind, or --model for a model the runs do not cover)")
    cells = choose(plans, budget=budget, gpu_hours=gpu_hours)
    if budget is not None and 0 < len(cells) < budget:
        warnings.append(f"only {len(cells)} unmeasured cells for a budget of {budget}")
    if gpu_hours is not None and not cells and open_cells:
        warnings.append(f"no unmeasured cell fits in {gpu_hours:g} GPU-hours")
    trainings = len({(c["source_task"], c["source_language"]) for c in cells})
    return {
        "query": {"task": target.id, "languages": list(codes), "candidates": candidates, "budget": budget,
                  "gpu_hours": gpu_hours, "model": setting_model,
                  # the rate behind the hours: given, or the trainer's measured one on this task's sequences
                  "tokens_per_second": rate if rate is not None else round(measured_rate(target), 1)},
        "criterion": CRITERION,
        "interval_level": calibration.level,
        "cells": cells,
        "summary": {"cells": len(cells), "trainings": trainings, "gpu_hours": total_hours(cells),
                    "expected_improvement": round(sum(c["batch_value"] for c in cells), 4),
                    "open_cells": open_cells,
                    "measured_cells": sum(int(p.belief.measured.sum()) for p in plans)},
        "matrix": matrix.grids(cells, target.id),
        "warnings": warnings,
    }


__all__ = ["build_plan", "check_budget", "check_languages", "CRITERION", "MAX_LANGUAGES"]
