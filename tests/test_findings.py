"""docs/findings.md is what bench/findings.py computes from the shipped CSVs, and its statistics
carry seed noise (bench/findings_stats.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


stats = _bench("findings_stats")


def test_the_bootstrap_interval_carries_seed_noise_that_an_interval_over_languages_hides() -> None:
    rng = np.random.default_rng(1)
    langs = rng.normal(0, 1, 40)
    quiet = np.stack([langs + rng.normal(0, 0.1, 40) for _ in range(3)])
    seed_shift = np.array([[-3.0], [0.0], [3.0]])  # the whole seed moves: invisible to a per-seed interval
    noisy = quiet + seed_shift
    _, lo_q, hi_q = stats.boot_mean(quiet)
    m, lo_n, hi_n = stats.boot_mean(noisy)
    assert lo_n <= m <= hi_n and (hi_n - lo_n) > 5 * (hi_q - lo_q)
    assert stats.seed_sd(noisy) == pytest.approx(3.0, abs=0.2)


def test_reproducible_language_effects_are_told_from_seed_noise() -> None:
    rng = np.random.default_rng(2)
    own = rng.normal(0, 2, (4, 30))  # task x language effects that every seed shares
    stable = np.stack([own + rng.normal(0, 0.2, (4, 30)) for _ in range(3)], axis=1)  # tasks x seeds x languages
    noise = rng.normal(0, 2, (4, 3, 30))
    assert stats.interaction_corr(stable) > 0.9 and abs(stats.interaction_corr(noise)) < 0.2
    assert stats.icc(stable[0]) > 0.9 and stats.icc(noise[0]) < 0.3
    assert stats.seed_corr(stable[0])[0] > 0.9
    same, n, chance = stats.best_agreement(stable)
    assert same > 0.8 * n and chance == pytest.approx(1 / 16)
    agree, _, p = stats.sign_agreement(np.array([[1.0, -1.0, 2.0], [2.0, 1.0, 1.0]]))
    assert agree == 2 and p == pytest.approx(0.5)


def test_headroom_is_on_zero_to_one_and_below_chance_counts_as_nothing_learned() -> None:
    assert stats.headroom(47.5, 53.5) == 1.0  # RTE below chance: not 1.13
    assert stats.headroom(100.0, 50.0) == 0.0
    assert stats.headroom(75.0, 50.0) == pytest.approx(0.5)
    assert stats.verdict(0.1, 2.0) == "higher" and stats.verdict(-2.0, 0.5).startswith("no different")


def test_every_figure_of_the_findings_is_recomputed_from_the_shipped_files(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSTONE_HOME", str(tmp_path))
    findings = _bench("findings")
    data = findings.task_data()
    text, _ = findings.build(data)
    shipped = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    if data is None:  # without the task data only the zero-shot table (its sentence-length columns) differs
        assert _without_lengths(text) == _without_lengths(shipped)
    else:
        assert text == shipped


def _without_lengths(text: str) -> list[str]:
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("Zero-shot scores") or line.startswith("(The task data were not"):
            skipping = True
        elif skipping and line.startswith("Evaluation sampling error"):
            skipping = False
        if not skipping:
            out.append(line)
    return out
