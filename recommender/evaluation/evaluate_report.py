"""The Markdown report of ``stepstone evaluate --format md``: a table per setting and the top-1 plot.

``write_report(result, out)`` writes ``evaluation.md`` and ``top1_loss.png`` from the JSON result of
``evaluation.crossval.evaluate_runs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recommender.evaluation.comparison import markdown_table
from recommender.evaluation.crossval import LOW_RESOURCE_GIB
from recommender.evaluation.intermediate import markdown_lines as intermediate_markdown
from recommender.evaluation.metrics import METRICS

PLOT_METHODS = ("ranker", "best_on_average", "english", "random")
PUBLISHED_TOP1 = {"xnli": 1.33, "xquad": 32.27, "tydiqa": 6.07}  # Swithord/langrankplus, best of 5 methods


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def plot_top1(result: dict[str, Any], path: Path) -> Path:
    """Top-1 loss per setting, one panel each (own scale): the ranker against the baselines."""
    from matplotlib.figure import Figure

    settings = result["settings"]
    fig = Figure(figsize=(2.9 * len(settings) + 0.6, 3.9), dpi=120)
    axes = fig.subplots(1, len(settings), squeeze=False)
    colors = {"ranker": "#1f77b4", "best_on_average": "#ff7f0e", "english": "#2ca02c", "random": "#9a9a9a"}
    published_shown = False
    for ax, s in zip(axes[0], settings, strict=True):
        names = list(PLOT_METHODS)
        values = [(s["ranker"] if m == "ranker" else s["baselines"][m])["top1_loss_pct"] for m in names]
        nearest = {k: v["top1_loss_pct"] for k, v in s["baselines"].items()
                   if k.startswith("nearest_") and v["top1_loss_pct"] is not None}
        if nearest:
            best = min(nearest, key=nearest.__getitem__)
            names.append(best.replace("nearest_", "nearest\n"))
            values.append(nearest[best])
        values = [0.0 if v is None else v for v in values]
        bars = ax.bar(range(len(values)), values, color=[colors.get(n, "#9467bd") for n in names])
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=1)
        published = PUBLISHED_TOP1.get(s["target_task"])
        if published is not None and result["split"] == "lolo" and result["exclude_self"]:
            ax.axhline(published, color="black", linestyle="--", linewidth=1,
                       label=None if published_shown else "published best (LangRank+)")
            published_shown = True
        top = max([*values, published or 0.0])
        ax.set_ylim(0, top * 1.18 + 0.05)
        ax.set_xticks(range(len(names)), [n.replace("best_on_average", "best on\naverage") for n in names],
                      fontsize=7, rotation=0)
        ax.set_title(f"{s['target_task']} ({s['queries']} queries)", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    axes[0][0].set_ylabel("top-1 loss (%), lower is better", fontsize=8)
    if published_shown:
        fig.legend(loc="upper right", fontsize=7, frameon=False)
    fig.suptitle(f"Top-1 loss per setting ({result['split']}, self "
                 f"{'excluded' if result['exclude_self'] else 'included'})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def render_markdown(result: dict[str, Any], plot_name: str) -> str:
    """The report: a summary across settings, then every method's metrics per setting."""
    lines = [f"# Evaluation: {result['split']}, self {'excluded' if result['exclude_self'] else 'included'}", "",
             f"Cross-validated over held-out groups ({result['split']}); every number is a mean over the "
             f"setting's held-out queries. {result['seconds']} s.", "", f"![top-1 loss per setting]({plot_name})",
             "", "| setting | queries | ranker top-1 loss % | best_on_average | ranker ndcg@3 | best_on_average |",
             "|---|---|---|---|---|---|"]
    for s in result["settings"]:
        r, b = s["ranker"], s["baselines"]["best_on_average"]
        lines.append(f"| {s['target_task']} ({s['dataset']}) | {s['queries']} | {_fmt(r['top1_loss_pct'])} | "
                     f"{_fmt(b['top1_loss_pct'])} | {_fmt(r['ndcg@3'])} | {_fmt(b['ndcg@3'])} |")
    for s in result["settings"]:
        lines += ["", f"## {s['target_task']} · {s['dataset']} · {s['model']} ({s['queries']} queries)", "",
                  "| method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        rows = [("**ranker**", s["ranker"]), *s["baselines"].items(),
                *((f"ablation: {k}", v) for k, v in s["ablations"].items())]
        for name, m in rows:
            lines.append(f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in METRICS) + " |")
        if s["ranker"].get("interval_coverage") is not None:
            lines += ["", f"Gain intervals (80 %, CV+ calibrated on the other folds): empirical coverage "
                          f"{s['ranker']['interval_coverage']:.3f}, mean width {s['ranker']['interval_width']:.2f} "
                          "points."]
        low = {k: v["low_resource"] for k, v in s["ablations"].items()}
        if low and any(v["queries"] for v in low.values()):
            n = next(iter(low.values()))["queries"]
            lines += ["", f"Low-resource targets (CC-100 < {LOW_RESOURCE_GIB:g} GiB or absent): {n} queries.", "",
                      "| ablation | ndcg@3 | top1_loss_pct |", "|---|---|---|"]
            for k, v in low.items():
                lines.append(f"| {k} | {_fmt(v.get('ndcg@3'))} | {_fmt(v.get('top1_loss_pct'))} |")
        lines += intermediate_markdown(s)
    lines += evidence_lines(result)
    return "\n".join(lines) + "\n"


def evidence_lines(result: dict[str, Any]) -> list[str]:
    """Interval coverage per evidence level, and multilingual vs English-only intermediate data."""
    lines: list[str] = []
    cov = result.get("evidence_coverage") or {}
    if cov:
        lines += ["", "## Interval coverage per evidence level (held out)", "",
                  "| evidence | coverage | nominal | rows | how |", "|---|---|---|---|---|"]
        for name, v in cov.items():
            lines.append(f"| {name} | {_fmt(v['coverage'])} | {v['nominal']:.2f} | {v['rows']} | {v['how']} |")
    rows = result.get("multilingual_vs_english") or []
    if rows:
        lines += ["", "## Multilingual vs English-only intermediate data, per target language (measured)", "",
                  *markdown_table(rows)]
    return lines


def write_report(result: dict[str, Any], out: Path) -> Path:
    """Write ``evaluation.md`` and ``top1_loss.png`` into ``out``; returns the Markdown's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_top1(result, out / "top1_loss.png")
    path = out / "evaluation.md"
    path.write_text(render_markdown(result, "top1_loss.png"), encoding="utf-8")
    return path
