"""Helpers shared by the tests: homes, run files and small run sets with a known answer."""

from __future__ import annotations

import shutil
from pathlib import Path


def clone_home(src: Path, dst: Path) -> Path:
    """Copy a home; the language-feature cache (read-only, 30 MB) is linked, not copied."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache"))
    if (src / "cache").exists():
        (dst / "cache").symlink_to(src / "cache", target_is_directory=True)
    return dst


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    import csv

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def xstilts_rows(languages: tuple[str, ...] = ("swa", "yor", "deu", "hin"),
                 sources: tuple[str, ...] = ("mnli", "squad", "hellaswag")) -> list[dict[str, object]]:
    """Tiny intermediate-task runs for XNLI: a baseline and three intermediate tasks per language."""
    rows: list[dict[str, object]] = []
    for i, lang in enumerate(languages):
        base = 70.0 + i
        rows.append(dict(dataset="lab", model="xlmr-large", target_task="xnli", target_language=lang,
                         source_task="xnli", source_language="eng", score=base, metric="accuracy",
                         baseline_score=base, seed=1))
        for j, src in enumerate(sources):
            rows.append(dict(dataset="lab", model="xlmr-large", target_task="xnli", target_language=lang,
                             source_task=src, source_language="eng", score=base + 3.0 - j + 0.1 * i,
                             metric="accuracy", baseline_score=base, seed=1))
    return rows


EUROPEAN = ("deu", "fra", "spa", "nld", "swe", "dan", "pol", "ces", "ron", "bul", "ell", "rus")
DISTANT = ("jpn", "kor", "zho", "tha", "vie", "hin", "ben", "tam", "tel", "ara", "tur", "ind")


def pawsx_rows(model: str = "xlmr-large") -> list[dict[str, object]]:
    """Synthetic but plausible PAWS-X intermediate runs: MNLI helps European targets, SQuAD distant ones."""
    rows: list[dict[str, object]] = []
    for i, lang in enumerate(EUROPEAN + DISTANT):
        base = 85.0 - 0.3 * i
        european = lang in EUROPEAN
        for src, gain in (("pawsx", 0.0), ("mnli", 2.5 if european else -0.5), ("squad", -0.3 if european else 2.5),
                          ("hellaswag", 0.2 + 0.1 * (i % 3))):
            rows.append(dict(dataset="synthetic-pawsx", model=model, target_task="pawsx", target_language=lang,
                             source_task=src, source_language="eng", score=base + gain, metric="accuracy",
                             baseline_score=base, seed=1))
    return rows
