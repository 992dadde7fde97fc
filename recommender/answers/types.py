"""The answer, typed: one definition that the Service returns, the API serialises and the CLI prints.

An ``Answer`` holds two ``Decision``\\ s, always both (``intermediate``: which intermediate task to
train on first; ``language``: which language's training data to fine-tune on instead of English),
one possibly empty when the query asked for the other kind. Each decision's ``Item``\\ s are
ordered by the gain shown beside them, measured or predicted; each item says its ``basis`` (the
evidence ladder: ``measured`` > ``model`` > ``published per target task`` > ``published overall``),
an interval at the answer's level, its evidence and at most three reasons. The decision's advice
follows from its items (``answers.advice``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["intermediate", "language"]
Basis = Literal["measured", "model", "published per target task", "published overall"]
Advice = Literal["train", "skip", "measure first"]
KINDS: tuple[Kind, ...] = ("intermediate", "language")
MEASURED: Basis = "measured"
MODEL: Basis = "model"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Measured(_Out):
    """The runs behind a measured item: the gain shown is their mean."""

    runs: int = Field(description="runs of this exact cell (target task, target language, source)")
    seeds: int = Field(description="distinct (dataset, model, seed) among them")
    sd: float | None = Field(None, description="the run-to-run standard deviation the interval uses (points)")
    datasets: list[str]
    models: list[str]
    interval_rule: str = Field(description="how gain_low..gain_high is made from the runs")


class Item(_Out):
    """One candidate source, with the gain shown, its interval, its basis, evidence and reasons."""

    rank: int = Field(description="rank within its decision, from 1, by the gain shown")
    kind: Kind
    source_task: str
    source_language: str = Field(description='ISO 639-3; "mul" for intermediate data in several languages')
    source_language_name: str
    source_size: float | None = Field(None, description="examples of the source's training data, where the "
                                      "evidence tells sizes apart (an intermediate-size sweep)")
    gain: float | None = Field(description="expected gain in points over the English baseline: the measured mean "
                                           "for a measured item, else the prediction of its basis")
    gain_low: float | None = Field(None, description="lower end of the gain's interval (points)")
    gain_high: float | None = Field(None, description="upper end of the gain's interval (points)")
    basis: Basis = Field(description="measured, model, published per target task or published overall")
    evidence: str = Field(description="what the gain stands on, in one line")
    measured: Measured | None = Field(None, description="the runs behind a measured item")
    why: list[str] = Field(default_factory=list, description="at most three material reasons (↑ helps, ↓ hurts)")
    caveats: list[str] = Field(default_factory=list, description="what the reader must know about the figure")


class Cost(_Out):
    """What measuring one cell costs, as the planner prices it."""

    source_task: str
    source_language: str
    gpu_hours: float | None
    rate: str = Field(description="the throughput the price assumes")


class Decision(_Out):
    """One decision, ranked only against its own kind."""

    kind: Kind
    basis: Basis | None = Field(description="the rung that answers this decision's unmeasured items "
                                            "(measured when every item is)")
    scale: str = Field(description="what the gains of this decision measure")
    recommendations: list[Item]
    advice: Advice | None = Field(None, description="train: the first item's interval lies above the noise "
                                  "threshold; measure first: intervals straddle it; skip: no item is likely to help")
    advice_detail: str | None = None
    advice_sources: list[str] = Field(default_factory=list, description="the items the advice names")
    costs: list[Cost] = Field(default_factory=list, description="the cost of the runs 'measure first' asks for")
    notes: list[str] = Field(default_factory=list)


class Query(_Out):
    language: str
    language_name: str
    task: str
    k: int
    candidates: Literal["all", "intermediate", "language"]
    model: str | None = Field(None, description="measured cells count only runs of models whose name contains this")


class Baseline(_Out):
    source_task: str
    source_language: str
    source_language_name: str


class Answer(_Out):
    """What stepstone answers for one (target task, target language)."""

    query: Query
    model_version: str
    interval_level: float | None = Field(None, description="nominal coverage of gain_low..gain_high")
    noise_threshold: float = Field(description="points a gain must clear for 'train' (docs/reports.md)")
    decisions: dict[Kind, Decision] = Field(description="both decisions, each ranked within its own kind")
    baseline: Baseline
    warnings: list[str]

    def as_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


__all__ = ["Advice", "Answer", "Baseline", "Basis", "Cost", "Decision", "Item", "KINDS", "Kind", "MEASURED",
           "MODEL", "Measured", "Query"]
