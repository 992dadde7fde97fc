"""Request and response schemas, split by direction (``…In`` is sent, ``…Out`` is answered)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from recommender.answers.types import Answer


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """An answer that passes through fields added by the service after this schema was written."""

    model_config = ConfigDict(extra="allow")


# -- recommendations ----------------------------------------------------------------------------
# The answer's one definition lives with the Service (``recommender.answers.types``); the API
# serialises it as it is.
RecommendationList = Answer


NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # control characters are never part of a language or task name


class QueryIn(Strict):
    language: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL, description="Target language: code or name")
    task: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL, description="Target task id, e.g. xnli")
    k: int = Field(3, ge=1, le=50)
    candidates: Literal["all", "intermediate", "language"] = "all"
    model: str | None = Field(None, min_length=1, max_length=256, pattern=NO_CONTROL,
                              description="measured cells count only runs of models whose name contains this")


class BatchIn(Strict):
    queries: list[QueryIn] = Field(min_length=1, max_length=1000, description="At most 1,000 queries")


class ErrorOut(BaseModel):
    code: str | None = Field(None, description="a stable machine-readable code, e.g. unknown_language")
    detail: str
    value: Any = None
    suggestions: list[str] = []


class BatchErrorOut(ErrorOut):
    type: str


class BatchItemOut(BaseModel):
    index: int
    result: RecommendationList | None
    error: BatchErrorOut | None


class BatchOut(BaseModel):
    results: list[BatchItemOut]


# -- runs ---------------------------------------------------------------------------------------
def _no_underscore(value: object) -> object:
    """A number sent as text may not hold ``_``: Python reads "7_5" as 75, a typo of 7.5."""
    if isinstance(value, str) and "_" in value:
        raise ValueError("not a number")
    return value


Number = Annotated[float, BeforeValidator(_no_underscore)]


class RunIn(Strict):
    """One measured cell, as in ``shared/data/transfer/*.csv``; unknown fields are rejected."""

    target_task: Annotated[str, Field(min_length=1, max_length=256)]
    target_language: Annotated[str, Field(min_length=1, max_length=256)]
    source_task: Annotated[str, Field(min_length=1, max_length=256)]
    source_language: Annotated[str, Field(min_length=1, max_length=256)]
    score: Number
    dataset: str = ""
    model: str = ""
    source_size: Number | None = None
    metric: str = ""
    baseline_score: Number | None = None
    seed: Annotated[int | None, BeforeValidator(_no_underscore)] = None


class RunOut(BaseModel):
    target_task: str
    target_language: str
    source_task: str
    source_language: str
    score: float
    dataset: str
    model: str
    source_size: float | None
    metric: str
    baseline_score: float | None
    seed: int | None


class RunPage(BaseModel):
    total: int
    limit: int
    offset: int
    next_offset: int | None
    runs: list[RunOut]
    notes: list[str] = Field(default_factory=list, description="e.g. runs of the same task stored under another "
                             "dataset version id, which an exact filter leaves out")


class ImportOut(BaseModel):
    inserted: int
    duplicates: int
    replaced: int = 0
    warnings: list[str] = Field(default_factory=list, description="notes, e.g. a script subtag folded")
    flagged: int = Field(0, description="stored runs that gained a flag (a re-import never drops one)")


class DeleteOut(BaseModel):
    deleted: int


class RunErrorOut(ErrorOut):
    row: int | None = None
    column: str | None = None


# -- models -------------------------------------------------------------------------------------
class EvaluationOut(Open):
    kind: Literal["in-sample"]
    queries: int
    rows: int
    metrics: dict[str, float | None]


class ModelOut(BaseModel):
    version: str
    current: bool
    created_at: str | None = None
    runs: int | None = None
    queries: int | None = None
    rows: int | None = None
    fingerprint: str | None = None
    train_seconds: float | None = None
    calibration: dict[str, Any] | None = None
    evaluation: EvaluationOut | None = None
    error: str | None = None


Version = Annotated[str, Field(pattern=r"^v\d{4,}$", max_length=16, examples=["v0001"])]


# -- catalog ------------------------------------------------------------------------------------
class LanguageOut(BaseModel):
    code: str
    name: str
    target_runs: int
    source_runs: int
    cc100_gib: float | None
    uriel: bool


class TaskOut(BaseModel):
    id: str
    name: str
    kind: str
    format: str
    level: str
    metric: str
    train_size: int | None
    num_classes: int | None
    chance: float
    english_score: float | None
    headroom: float | None
    mean_input_tokens: float | None
    languages: int | None
    aliases: list[str]
    source: str
    train_languages: list[str] = Field(default_factory=list, description="languages with training data")
    train_languages_source: str = ""
    target_runs: int = Field(description="runs with this task as the target (every dataset version of it)")
    intermediate_runs: int = Field(description="runs that use this task as an intermediate source")
    runs: int = Field(description="target_runs + intermediate_runs")


class Health(BaseModel):
    status: Literal["ok"]
    model_version: str | None
    runs: int


# -- plans --------------------------------------------------------------------------------------

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
