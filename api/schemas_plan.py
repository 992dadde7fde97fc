"""Request and response schemas of ``POST /v1/plans`` (``…In`` is sent, ``…Out`` is answered)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas import NO_CONTROL, Open, Strict


class PlanIn(Strict):
    task: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL, description="Target task id, e.g. udpos")
    languages: list[Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]] = Field(
        min_length=1, max_length=50, description="Target languages: codes or names")
    candidates: Literal["all", "intermediate", "language"] = "all"
    budget: int | None = Field(None, description="How many cells to propose (1..100); or give gpu_hours")
    gpu_hours: float | None = Field(None, description="Propose what this many GPU-hours pay for; or give budget")
    tokens_per_second: float | None = Field(None, description="Training throughput behind the GPU-hour estimates")
    model: str | None = Field(None, max_length=200, pattern=NO_CONTROL,
                              description="Only runs of this model count as measured (default: any)")


class PhaseOut(BaseModel):
    task: str
    examples: float | None
    epochs: float
    tokens_per_example: float
    gpu_hours: float | None


class PlanCellOut(Open):
    rank: int
    target_language: str
    target_language_name: str
    source_task: str
    source_language: str
    kind: Literal["intermediate", "language"]
    basis: Literal["model", "literature-prior"]
    predicted_gain: float
    gain_low: float | None
    gain_high: float | None
    expected_improvement: float = Field(description="E[max(best, Y) - best]: points the best measured cell "
                                                    "is expected to gain from this cell alone")
    batch_value: float = Field(description="what the cell adds to the cells ranked above it (points)")
    p_better: float = Field(description="probability that the cell beats the best measured one")
    loss_reduction_pct: float | None = Field(description="expected_improvement in % of the best measured score")
    gpu_hours: float | None = Field(description="training GPU-hours of the cell on its own")
    marginal_gpu_hours: float | None = Field(description="GPU-hours it adds to the cells above (0: shares a training)")
    phases: list[PhaseOut]
    why: list[str]


class PlanGridOut(BaseModel):
    kind: Literal["intermediate", "language"]
    target_tasks: list[str]
    source_tasks: list[str]
    source_languages: list[str]
    languages: list[str]
    extra_cells: list[list[str]] = Field(description="cells the grid evaluates beyond the plan (no extra training)")


class PlanSummaryOut(BaseModel):
    cells: int
    trainings: int
    gpu_hours: float | None
    expected_improvement: float
    open_cells: int
    measured_cells: int


class PlanQueryOut(Open):
    task: str
    languages: list[str]
    candidates: Literal["all", "intermediate", "language"]
    budget: int | None
    gpu_hours: float | None
    tokens_per_second: float
    model: str | None


class PlanOut(Open):
    query: PlanQueryOut
    model_version: str
    criterion: str
    interval_level: float | None
    cells: list[PlanCellOut]
    summary: PlanSummaryOut
    matrix: list[PlanGridOut] = Field(description="the trainer's matrix grids that run the cells")
    warnings: list[str]
