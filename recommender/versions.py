"""The model-version listings of the Service: one version's summary, every version, the live one.

``Service`` inherits them; they need only its registry and its live model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feature_store.errors import StepstoneError
from recommender.model.registry import LoadedModel, ModelRegistry


class ModelVersions:
    """Mixed into ``Service``: what ``stepstone models`` and ``GET /v1/models`` list."""

    registry: ModelRegistry

    def live(self) -> LoadedModel:  # the Service's, following ``current``
        raise NotImplementedError

    def model_summary(self, version: str, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        meta = self.registry.meta(version) if meta is None else meta
        keys = ("created_at", "runs", "queries", "rows", "fingerprint", "train_seconds")
        return {"version": version, "current": version == self.registry.current(),
                **{k: meta.get(k) for k in keys}, "calibration": meta.get("calibration"),
                "evaluation": self.registry.evaluation(version)}

    def models(self) -> list[dict[str, Any]]:
        """Every registered version, oldest first; a version whose meta.json is unreadable is flagged."""
        out = []
        for version in self.registry.versions():
            try:
                out.append(self.model_summary(version))
            except StepstoneError as exc:
                out.append({"version": version, "current": version == self.registry.current(), "error": str(exc)})
        return out

    def current_model(self) -> dict[str, Any]:
        live = self.live()
        return self.model_summary(live.version, live.meta)


__all__ = ["ModelVersions"]
