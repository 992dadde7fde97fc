"""Shared constants and builders of the API tests (a plain module: tests/ is not a package)."""

from __future__ import annotations

from typing import Any

TOKEN = "s3cret-token"


def run_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"target_task": "xnli", "target_language": "swa", "source_task": "xnli",
                           "source_language": "fra", "score": 0.61, "dataset": "api-test", "model": "xlm-r"}
    row.update(overrides)
    return row
