"""Request and response schemas, split by direction (``…In`` is sent, ``…Out`` is answered)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
class RunIn(Strict):
    """One measured cell, as in ``shared/data/transfer/*.csv``; unknown fields are rejected."""

    target_task: Annotated[str, Field(min_length=1, max_length=256)]
    target_language: Annotated[str, Field(min_length=1, max_length=256)]
    source_task: Annotated[str, Field(min_length=1, max_length=256)]
    source_language: Annotated[str, Field(min_length=1, max_length=256)]
    score: float
    dataset: str = ""
    model: str = ""
    source_size: float | None = None
    metric: str = ""
    baseline_score: float | None = None
    seed: int | None = None


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
