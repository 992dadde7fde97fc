"""Request and response schemas, split by direction."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendationOut(BaseModel):
    rank: int
    source_task: str
    source_language: str
    source_language_name: str
    kind: Literal["intermediate", "language"]
    predicted_gain: float | None
    score: float | None
    basis: Literal["model", "literature-prior"]
    evidence: str | None = None


class QueryOut(BaseModel):
    language: str
    language_name: str
    task: str
    k: int
    candidates: Literal["all", "intermediate", "language"]


class RecommendationList(BaseModel):
    query: QueryOut
    model_version: str
    recommendations: list[RecommendationOut]
    warnings: list[str]


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
    runs: int


class Health(BaseModel):
    status: Literal["ok"]
    model_version: str | None
    runs: int


class ErrorOut(BaseModel):
    detail: str
    value: str | None = None
    suggestions: list[str] = []
