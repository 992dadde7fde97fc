"""Reports people want to read: many target languages of one task, ranked, explained and plotted.

``build_report`` turns ``Service.recommend_many`` answers (exactly what ``recommend`` says for
each language) into a ``Report``; ``write_report`` writes it as Markdown or HTML with a heatmap
of predicted gain (``heatmap.png``; embedded in the HTML, so that file stands alone). Run it as
``stepstone report --task udpos --all-known --out reports/udpos``.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from feature_store.errors import InvalidRequest
from feature_store.features import Source
from feature_store.paths import atomic_write_bytes
from feature_store.tasks import Task
from recommender.answers.answer import Ranking
from recommender.answers.entry import Entry
from recommender.answers.types import KINDS, Answer
from recommender.evaluation.comparison import markdown_table


# -- reports ------------------------------------------------------------------------------------
@dataclass
class LanguageResult:
    """One target language: its decisions (each ranked within its kind), the headline advice, warnings."""

    code: str
    name: str
    decisions: dict[str, dict[str, Any]]
    advice: dict[str, Any]
    warnings: list[str]

    @property
    def recommendations(self) -> list[dict[str, Any]]:
        return [item for d in self.decisions.values() for item in d["recommendations"]]


@dataclass
class Report:
    task: str
    task_name: str
    k: int
    model_version: str
    model_meta: dict[str, Any]
    languages: list[LanguageResult]
    columns: list[str]  # heatmap columns: source labels
    gain: np.ndarray  # (n_languages, n_columns) predicted gain, NaN where not a candidate
    notes: list[str]
    provenance: list[str]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _label(source: Source, kind: str) -> str:
    return source.task if kind == "intermediate" else source.language


def build_report(target: Task, k: int, version: str, meta: dict[str, Any],
                 answers: Sequence[tuple[Answer, Ranking]], provenance_counts: Sequence[tuple[Any, ...]],
                 seconds: float) -> Report:
    """A report from ``recommend`` answers: every candidate's gain as the answer shows it (measured
    or predicted), for the heatmap, and each language's decisions as ``recommend`` gives them."""
    notes: list[str] = []
    labels = list(dict.fromkeys(_entry_label(e) for _, ranking in answers for kind in KINDS
                                for e in ranking.entries[kind]))
    col = {lab: j for j, lab in enumerate(labels)}
    gain = np.full((len(answers), len(labels)), np.nan)
    results = []
    for li, (typed, ranking) in enumerate(answers):
        for kind in KINDS:
            for e in ranking.entries[kind]:
                gain[li, col[_entry_label(e)]] = e.gain
        answer = typed.as_dict()
        code = answer["query"]["language"]
        own = [w for w in answer["warnings"] if _per_language(w, code)]
        notes += [w for w in answer["warnings"] if w not in own and w not in notes]
        headline = answer["decisions"].get("intermediate") or next(iter(answer["decisions"].values()))
        results.append(LanguageResult(code, answer["query"]["language_name"], answer["decisions"],
                                      {"interval_level": answer["interval_level"], "advice": headline["advice"],
                                       "advice_detail": headline["advice_detail"], "baseline": answer["baseline"]},
                                      own))
    return Report(task=target.id, task_name=target.name, k=k, model_version=version, model_meta=meta,
                  languages=results, columns=labels, gain=gain, notes=notes,
                  provenance=provenance(provenance_counts), seconds=seconds)


def _entry_label(e: Entry) -> str:
    return _label(e.source, e.kind) + (" (published)" if e.basis.startswith("published") else "")


def _published_label(item: dict[str, Any]) -> str:
    return f"{item['source_task']} (published)"


def _per_language(warning: str, code: str) -> bool:
    """Whether a warning is about this target language (else it is the same for every language)."""
    return f"({code})" in warning


def provenance(counts: Sequence[tuple[Any, ...]]) -> list[str]:
    """Where the runs come from: ``(dataset, model, target_task, n)`` rows with their published source."""
    text = resources.files("feature_store").joinpath("data/PROVENANCE.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    out = []
    for dataset, model, task, n in counts:
        prefix = re.split(r"[:_]", dataset)[0]
        source = next((row.split("|")[4].strip() for row in rows if row.split("`")[1].startswith(prefix)), "")
        out.append(f"{dataset} · {model} · {task}: {n:,} runs" + (f" — {source}" if source else ""))
    out.append("language features: URIEL via lang2vec 1.1.2 (Littell et al. 2017); CC-100 sizes: "
               "Conneau et al. 2020, Appendix Table 6")
    return out


# -- heatmap --------------------------------------------------------------------------------------
CELL_IN = 0.16  # inches per heatmap cell: ticks at 6 pt stay legible up to ~150 rows
DPI = 100


def heatmap_size(n_rows: int, n_cols: int) -> tuple[float, float]:
    """Figure size in inches for a heatmap of ``n_rows`` languages × ``n_cols`` sources."""
    return (max(7.0, 3.2 + CELL_IN * n_cols), max(3.5, 2.4 + CELL_IN * n_rows))


def plot_heatmap(report: Report, path: Path) -> tuple[int, int]:
    """Write the gain heatmap PNG; returns its (width, height) in pixels."""
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    gain = report.gain
    # columns by mean predicted gain, best first; rows as given (sorted by name)
    col_order = np.argsort(-np.nan_to_num(np.nanmean(np.where(np.isnan(gain), np.nan, gain), axis=0)
                                          if gain.size else np.zeros(0), nan=-np.inf), kind="stable")
    row_order = sorted(range(len(report.languages)), key=lambda i: report.languages[i].name)
    g = gain[np.ix_(np.array(row_order, dtype=int), col_order)] if gain.size else gain
    finite = g[np.isfinite(g)]
    # robust limits, each side on its own scale so that white is exactly zero gain
    low = min(float(np.percentile(finite, 2)), -0.1) if finite.size else -1.0
    high = max(float(np.percentile(finite, 98)), 0.1) if finite.size else 1.0
    w, h = heatmap_size(*g.shape)
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["RdBu"].with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(g), cmap=cmap, norm=TwoSlopeNorm(0.0, low, high), aspect="auto",
                   interpolation="nearest")
    small = 6 if max(g.shape) > 40 else 8
    ax.set_xticks(range(g.shape[1]), [report.columns[j] for j in col_order], rotation=90, fontsize=small)
    ax.set_yticks(range(g.shape[0]), [f"{report.languages[i].name} ({report.languages[i].code})"
                                      for i in row_order], fontsize=small)
    ax.set_xlabel("candidate source (best on average first)", fontsize=8)
    ax.set_ylabel("target language", fontsize=8)
    shown = [report.columns[j] for j in col_order]
    for r, i in enumerate(row_order):
        for d in report.languages[i].decisions.values():  # each decision's first, within its own kind
            if not d["recommendations"]:
                continue
            best = d["recommendations"][0]
            if best["basis"].startswith("published"):
                label = _published_label(best)
            else:
                label = best["source_task"] if best["kind"] == "intermediate" else best["source_language"]
            if label in shown:
                ax.plot(shown.index(label), r, marker="o", markersize=3, color="black", markeredgecolor="white",
                        markeredgewidth=0.5)
    ax.set_title(f"Gain over the English baseline (measured or predicted) · {report.task_name} · "
                 f"model {report.model_version}\n"
                 f"● ranked first · grey: not a candidate · colours clipped at {low:+.1f} / {high:+.1f}",
                 fontsize=8)
    bar = fig.colorbar(im, ax=ax, shrink=min(1.0, 6.0 / h), pad=0.01, extend="both")
    bar.set_label("gain (points, measured or predicted), white = 0", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.savefig(path, dpi=DPI)
    return int(round(w * DPI)), int(round(h * DPI))


# -- writing --------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _gain(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def _source(item: dict[str, Any]) -> str:
    if item["kind"] == "intermediate":
        return f"{item['source_task']} ({item['source_language_name']})"
    return f"{item['source_language_name']} ({item['source_language']})"


SECTION = {"intermediate": "Which intermediate task", "language": "Which source language's data"}


def _interval(item: dict[str, Any]) -> str:
    if item.get("gain_low") is None:
        return "–"
    return f"[{item['gain_low']:+.2f}, {item['gain_high']:+.2f}]"


def summary_lines(report: Report) -> list[str]:
    """The model version and its evaluation summary (or training summary) as text lines."""
    meta = report.model_meta
    lines = [f"model {report.model_version}, trained {meta.get('created_at', '?')} on {meta.get('runs', '?')} "
             f"runs ({meta.get('queries', '?')} queries, {meta.get('rows', '?')} rows) in "
             f"{meta.get('train_seconds', '?')} s"]
    evaluation = meta.get("evaluation")
    if isinstance(evaluation, dict):
        metrics = evaluation.get("metrics")
        if isinstance(metrics, dict):
            text = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
            lines.append(f"{evaluation.get('kind', '')} evaluation over {evaluation.get('queries', '?')} "
                         f"queries: {text}".strip())
        else:
            lines += [f"evaluation · {key}: {value}" for key, value in evaluation.items()]
    cal = meta.get("calibration")
    if isinstance(cal, dict):
        cov = cal.get("cv_coverage") or {}
        width = cal.get("width") or {}
        level = float(cal.get("level", 0.8))
        lines.append(f"{level:.0%} gain intervals: {cal.get('method')}")
        for key in sorted(cov):
            lines.append(f"coverage on its own CV residuals, {'all tasks' if key == '*' else key}: {_pct(cov[key])} "
                         f"(interval width {width.get(key, float('nan')):.2f} points)")
    else:
        lines.append("this model version has no interval calibration (retrain to add one)")
    lines.append("held-out ranking quality against the baselines (leave-one-language-out): `stepstone evaluate`")
    return lines


def to_markdown(report: Report, image: str = "heatmap.png") -> str:
    level = report.languages and report.languages[0].advice.get("interval_level")
    head = f"{level:.0%} interval" if level else "interval"
    out = [f"# Transfer sources for {report.task_name} ({report.task}) · {len(report.languages)} target "
           "languages", "", "Which English intermediate task or other-language training data to use before "
           "zero-shot cross-lingual transfer, with the gain over fine-tuning on English alone (measured where the "
           "store holds the cell, else predicted).", "",
           "## Model", "", *[f"- {line}" for line in summary_lines(report)], ""]
    if report.notes:
        out += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    out += ["## Gain (measured or predicted)", "",
            f"![gain per target language and source, measured or predicted]({image})", "",
            "## Per language", ""]
    for lang in report.languages:
        out += [f"### {lang.name} ({lang.code})", ""]
        for kind, d in lang.decisions.items():
            out += [f"#### {SECTION[kind]} · basis: {d['basis'] or 'none'}", ""]
            if d.get("advice"):
                out += [f"**Advice: {d['advice']}.** {d['advice_detail']}", ""]
            out += [f"| rank | source | basis | gain | {head} | why |", "|---|---|---|---|---|---|"]
            for item in d["recommendations"]:
                reasons = "<br>".join(item.get("why") or []).replace("|", "/")
                out.append(f"| {item['rank']} | {_source(item)} | {item['basis']} | {_gain(item['gain'])} "
                           f"| {_interval(item)} | {reasons} |")
            out += [""] + [f"> note: {n}" for n in d.get("notes") or []] + ([""] if d.get("notes") else [])
        out += [f"> ⚠ {w}" for w in lang.warnings] + ([""] if lang.warnings else [])
    comparison = report.extra.get("multilingual_vs_english") or []
    if comparison:
        out += ["## Multilingual vs English-only intermediate data (measured runs)", "", *markdown_table(comparison),
                ""]
    out += ["## Data provenance", "", *[f"- {p}" for p in report.provenance], "",
            f"_Generated in {report.seconds:.1f} s by `stepstone report`._", ""]
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .5em;"
        "vertical-align:top;font-size:.9em}th{background:#f3f3f3}.warn{color:#8a5a00}.skip{color:#a00;"
        "font-weight:bold}img{max-width:100%}td.num{text-align:right;white-space:nowrap}")


def to_html(report: Report, png: bytes) -> str:
    e = html.escape
    level = report.languages and report.languages[0].advice.get("interval_level")
    head = f"{level:.0%} interval" if level else "interval"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>stepstone · {e(report.task)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Transfer sources for {e(report.task_name)} ({e(report.task)}) · {len(report.languages)} "
             "target languages</h1>", "<h2>Model</h2><ul>",
             *[f"<li>{e(line)}</li>" for line in summary_lines(report)], "</ul>"]
    if report.notes:
        parts += ["<h2>Notes</h2><ul>", *[f"<li>{e(n)}</li>" for n in report.notes], "</ul>"]
    parts += ["<h2>Predicted gain</h2>",
              f"<img alt='predicted gain heatmap' src='data:image/png;base64,{base64.b64encode(png).decode()}'>",
              "<h2>Per language</h2>"]
    for lang in report.languages:
        parts.append(f"<h3 id='{e(lang.code)}'>{e(lang.name)} ({e(lang.code)})</h3>")
        for kind, d in lang.decisions.items():
            parts.append(f"<h4>{e(SECTION[kind])} · basis: {e(d['basis'] or 'none')}</h4>")
            if d.get("advice"):
                parts.append(f"<p class='skip'>Advice: {e(d['advice'])}. {e(d['advice_detail'])}</p>")
            parts.append(f"<table><tr><th>rank</th><th>source</th><th>basis</th><th>gain</th>"
                         f"<th>{head}</th><th>why</th></tr>")
            for item in d["recommendations"]:
                reasons = "<br>".join(e(r) for r in item.get("why") or [])
                parts.append(f"<tr><td class='num'>{item['rank']}</td><td>{e(_source(item))}</td>"
                             f"<td>{e(item['basis'])}</td><td class='num'>{_gain(item['gain'])}</td>"
                             f"<td class='num'>{_interval(item)}</td><td>{reasons}</td></tr>")
            parts.append("</table>")
            parts += [f"<p>note: {e(n)}</p>" for n in d.get("notes") or []]
        parts += [f"<p class='warn'>⚠ {e(w)}</p>" for w in lang.warnings]
    parts += ["<h2>Data provenance</h2><ul>", *[f"<li>{e(p)}</li>" for p in report.provenance], "</ul>",
              f"<p><em>Generated in {report.seconds:.1f} s by <code>stepstone report</code>.</em></p>",
              "</body></html>"]
    return "\n".join(parts)


def write_report(report: Report, out: Path, fmt: str = "md") -> list[Path]:
    """Write ``heatmap.png`` and ``report.md`` (or a self-contained ``report.html``) into ``out``."""
    if fmt not in ("md", "html"):
        raise InvalidRequest(f"report format must be md or html, got {fmt!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / "heatmap.png"
    plot_heatmap(report, png)
    if fmt == "md":
        doc = out / "report.md"
        atomic_write_bytes(doc, to_markdown(report, png.name).encode())
    else:
        doc = out / "report.html"
        atomic_write_bytes(doc, to_html(report, png.read_bytes()).encode())
    return [doc, png]
