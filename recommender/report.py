"""Reports people want to read: many target languages of one task, ranked, explained and plotted.

``build_report`` ranks every candidate source for many target languages of one task in one
batch (one design matrix, one prediction call); ``write_report`` writes it as Markdown or HTML
with a heatmap of predicted gain (``heatmap.png``; embedded in the HTML, so that file stands
alone). Run it as ``stepstone report --task udpos --all-known --out reports/udpos``.
"""

from __future__ import annotations

import base64
import html
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from feature_store.errors import InvalidRequest
from feature_store.features import Source
from feature_store.languages import language_name, resolve
from feature_store.paths import atomic_write_bytes
from feature_store.tasks import canonical_task, registry
from recommender.annotate import _r
from recommender.explain import why

if TYPE_CHECKING:
    from recommender.service import Service

Progress = Callable[[str, int, int], None]  # (phase, done, total)


# -- reports ------------------------------------------------------------------------------------
@dataclass
class LanguageResult:
    code: str
    name: str
    recommendations: list[dict[str, Any]]
    advice: dict[str, Any]
    warnings: list[str]


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


def known_targets(svc: Service, task: str) -> list[str]:
    """Target languages with runs of ``task`` in the store."""
    return sorted({r.target_language for r in svc.store.iter() if canonical_task(r.target_task) == task})


def build_report(svc: Service, task: str, languages: Sequence[str] | None = None, *, k: int = 3,
                 candidates: str = "all", progress: Progress | None = None) -> Report:
    """Rank every candidate for each language (default: all measured targets of ``task``) in one batch."""
    from recommender.service import _claims_warnings

    t0 = time.perf_counter()
    target = registry().get(task)
    codes = list(dict.fromkeys(resolve(x) for x in languages)) if languages else known_targets(svc, target.id)
    if not codes:
        raise InvalidRequest(f"no target languages for {target.id}: pass --languages, or import runs of it")
    live = svc.live()
    ann = svc.annotator(live)
    blocks: list[np.ndarray] = []
    all_sources: list[Source] = []
    kinds: list[str] = []
    spans: list[tuple[int, int]] = []
    notes: list[str] = []
    priors: list[Any] = []
    for n, code in enumerate(codes):
        pool, priors, pool_warnings = svc.candidate_pool(target, code, candidates)
        notes += [w for w in pool_warnings if w not in notes]
        start = len(all_sources)
        sources = [s for s, _ in pool]
        blocks.append(svc.builder.build(target.id, code, sources))
        all_sources += sources
        kinds += [kind for _, kind in pool]
        spans.append((start, len(all_sources)))
        if progress:
            progress("features", n + 1, len(codes))
    if priors:  # the same for every language: listed once instead of topping every table
        notes.append("published average gains of English intermediate tasks (X-STILTs), the same for every "
                     "target language: " + "; ".join(p.claim for p in priors))
    notes += _claims_warnings(target)
    model = live.model
    width = len(blocks[0][0]) if blocks and len(blocks[0]) else 0
    X = np.vstack(blocks) if all_sources else np.zeros((0, width))
    results: list[LanguageResult] = []
    labels = list(dict.fromkeys(_label(s, kd) for s, kd in zip(all_sources, kinds, strict=True)))
    gain = np.full((len(codes), len(labels)), np.nan)
    if all_sources:
        Z = model.design(X, target.id, all_sources)
        scores, gains = model.score(Z), model.predict_gain(Z)
        pools = [np.arange(a, b) for a, b in spans for _ in range(b - a)]
        top_rows = []
        orders = []
        for a, b in spans:
            order = a + np.argsort(-scores[a:b], kind="stable")
            orders.append(order)
            top_rows += order[:k].tolist()
        targets = [c for c, (a, b) in zip(codes, spans, strict=True) for _ in range(b - a)]
        reasons = why(ann.explainer, model.ranker_, Z, target.id, targets, all_sources, pools, top_rows,
                      scores=scores)
        col = {lab: j for j, lab in enumerate(labels)}
        for i, (s, kd) in enumerate(zip(all_sources, kinds, strict=True)):
            gain[codes.index(targets[i]), col[_label(s, kd)]] = gains[i]
        cal = ann.calibration
        lo, hi = cal.intervals(gains, target.id) if cal else (gains * np.nan, gains * np.nan)
    for li, code in enumerate(codes):
        items = []
        if all_sources:
            for i in orders[li][:k].tolist():
                s = all_sources[i]
                items.append({"source_task": s.task, "source_language": s.language,
                              "source_language_name": language_name(s.language), "kind": kinds[i],
                              "predicted_gain": _r(gains[i]), "gain_low": _r(lo[i]), "gain_high": _r(hi[i]),
                              "score": round(float(scores[i]), 4), "basis": "model", "why": reasons[i]})
        for rank, item in enumerate(items, start=1):
            item["rank"] = rank
        pool_high = None
        if all_sources and len(orders[li]) and np.isfinite(hi[orders[li]]).any():
            pool_high = float(np.nanmax(hi[orders[li]]))
        results.append(LanguageResult(code, language_name(code), items, ann.advice(items, target.id, pool_high),
                                      ann.coverage(code, target.id)))
        if progress:
            progress("explanations", li + 1, len(codes))
    return Report(task=target.id, task_name=target.name, k=k, model_version=live.version,
                  model_meta={**live.meta, **_evaluation(svc, live.version)}, languages=results, columns=labels,
                  gain=gain, notes=notes, provenance=provenance(svc), seconds=time.perf_counter() - t0)


def _evaluation(svc: Service, version: str) -> dict[str, Any]:
    """The evaluation stored beside a version by ``recommender.admin`` (``evaluation.json``), if any."""
    import json

    path = svc.registry.versions_dir / version / "evaluation.json"
    try:
        return {"evaluation": dict(json.loads(path.read_text(encoding="utf-8")))}
    except (OSError, ValueError, TypeError):
        return {}


def provenance(svc: Service) -> list[str]:
    """Where the runs in the store come from: datasets with run counts, and their published source."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in svc.store.iter():
        counts[(r.dataset, r.model, r.target_task)] += 1
    text = resources.files("feature_store").joinpath("data/PROVENANCE.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    out = []
    for (dataset, model, task), n in sorted(counts.items()):
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

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
    fig, ax = plt.subplots(figsize=(w, h), dpi=DPI, layout="constrained")
    cmap = plt.get_cmap("RdBu").with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(g), cmap=cmap, norm=TwoSlopeNorm(0.0, low, high), aspect="auto",
                   interpolation="nearest")
    small = 6 if max(g.shape) > 40 else 8
    ax.set_xticks(range(g.shape[1]), [report.columns[j] for j in col_order], rotation=90, fontsize=small)
    ax.set_yticks(range(g.shape[0]), [f"{report.languages[i].name} ({report.languages[i].code})"
                                      for i in row_order], fontsize=small)
    ax.set_xlabel("candidate source (best on average first)", fontsize=8)
    ax.set_ylabel("target language", fontsize=8)
    top = {lang.code: lang.recommendations[0] for lang in report.languages if lang.recommendations}
    for r, i in enumerate(row_order):
        best = top.get(report.languages[i].code)
        if best and best["basis"] == "model":
            label = best["source_task"] if best["kind"] == "intermediate" else best["source_language"]
            c = [report.columns[j] for j in col_order].index(label)
            ax.plot(c, r, marker="o", markersize=3, color="black", markeredgecolor="white", markeredgewidth=0.5)
    ax.set_title(f"Predicted gain over the English baseline · {report.task_name} · model {report.model_version}\n"
                 f"● ranked first · grey: not a candidate · colours clipped at {low:+.1f} / {high:+.1f}",
                 fontsize=8)
    bar = fig.colorbar(im, ax=ax, shrink=min(1.0, 6.0 / h), pad=0.01, extend="both")
    bar.set_label("predicted gain (points), white = 0", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return int(round(w * DPI)), int(round(h * DPI))


# -- writing --------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _gain(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def _source(item: dict[str, Any]) -> str:
    if item["kind"] == "intermediate":
        return f"{item['source_task']} (English)"
    return f"{item['source_language_name']} ({item['source_language']})"


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
           "zero-shot cross-lingual transfer, with predicted gain over fine-tuning on English alone.", "",
           "## Model", "", *[f"- {line}" for line in summary_lines(report)], ""]
    if report.notes:
        out += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    out += ["## Predicted gain", "", f"![predicted gain per target language and source]({image})", "",
            "## Per language", ""]
    for lang in report.languages:
        out += [f"### {lang.name} ({lang.code})", ""]
        if lang.advice.get("advice") == "skip":
            out += [f"**Advice: skip.** {lang.advice['advice_detail']}", ""]
        out += [f"| rank | source | kind | predicted gain | {head} | why |", "|---|---|---|---|---|---|"]
        for item in lang.recommendations:
            reasons = "<br>".join(item.get("why") or []).replace("|", "/")
            out.append(f"| {item['rank']} | {_source(item)} | {item['kind']} | {_gain(item['predicted_gain'])} "
                       f"| {_interval(item)} | {reasons} |")
        out += [""] + [f"> ⚠ {w}" for w in lang.warnings] + ([""] if lang.warnings else [])
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
        if lang.advice.get("advice") == "skip":
            parts.append(f"<p class='skip'>Advice: skip. {e(lang.advice['advice_detail'])}</p>")
        parts.append(f"<table><tr><th>rank</th><th>source</th><th>kind</th><th>predicted gain</th>"
                     f"<th>{head}</th><th>why</th></tr>")
        for item in lang.recommendations:
            reasons = "<br>".join(e(r) for r in item.get("why") or [])
            parts.append(f"<tr><td class='num'>{item['rank']}</td><td>{e(_source(item))}</td>"
                         f"<td>{e(item['kind'])}</td><td class='num'>{_gain(item['predicted_gain'])}</td>"
                         f"<td class='num'>{_interval(item)}</td><td>{reasons}</td></tr>")
        parts.append("</table>")
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
