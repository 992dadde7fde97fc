"""Evaluation of a trained model on one labelled split (phase 3, and English dev after each phase).

Predictions come back from ``trainer.predict`` in dataset order (``trainer.cell.loop.CellTrainer``
makes sure of it; ``predict`` sorts the features by length for the batches and puts the
predictions back) and are mapped to examples by position: feature f belongs to example
``enc.example_index[f]``. Retrieval (BUCC, Tatoeba) embeds with a bare encoder instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from trainer.cell.model import load_encoder
from trainer.cell.tokens import Encoded, encode
from trainer.config import TrainConfig
from trainer.data import metrics, mining, sampling
from trainer.data.files import Split, iso1
from trainer.data.retrieval import RetrievalSet


def _length(feature: dict[str, Any]) -> int:
    ids = feature["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


def predict(trainer: Trainer, features: list[dict[str, Any]]) -> Any:
    """Predictions in ``features``' order, computed in batches of similar length (each batch pads
    to its longest member, so a split of mixed lengths pads far less), then put back in order."""
    order = sorted(range(len(features)), key=lambda i: _length(features[i]))
    predictions = trainer.predict([features[i] for i in order]).predictions  # type: ignore[arg-type]
    back = np.argsort(np.asarray(order, dtype=np.int64))
    if isinstance(predictions, tuple):  # QA: (start logits, end logits)
        return tuple(np.asarray(p)[back] for p in predictions)
    return np.asarray(predictions)[back]


def evaluate_split(
    trainer: Trainer,
    split: Split,
    fmt: str,
    labels: tuple[str, ...] | None,
    tokenizer: PreTrainedTokenizerBase,
    cfg: TrainConfig,
    *,
    task_id: str = "",
    language: str = "eng",
    task_index: int | None = None,
) -> dict[str, float]:
    """The task's metrics (0-100) on one labelled split; ``task_index`` picks a phase-1 head."""
    enc = encode(split.examples, fmt, tokenizer, cfg, train=False)
    features = enc.features if task_index is None else [{**f, "task": task_index} for f in enc.features]
    return score_predictions(split, enc, predict(trainer, features), fmt, labels, cfg, task_id, language)


# Phase 3 predicts languages together, in passes of at most this many features: sorted by length
# across languages, batches are full and few shapes repeat; the bound keeps a pass's logits (tagging:
# features x tokens x tags, on the host) to a few hundred MB.
EVAL_PASS_FEATURES = 20_000


def _rows(predictions: Any, start: int, end: int) -> Any:
    return tuple(p[start:end] for p in predictions) if isinstance(predictions, tuple) else predictions[start:end]


def evaluate_splits(
    trainer: Trainer,
    splits: Mapping[str, Split],
    fmt: str,
    labels: tuple[str, ...] | None,
    tokenizer: PreTrainedTokenizerBase,
    cfg: TrainConfig,
    *,
    task_id: str = "",
    pass_features: int = EVAL_PASS_FEATURES,
) -> dict[str, dict[str, float]]:
    """Each language's metrics, as ``evaluate_split`` gives them, from one prediction pass over
    several languages at once (instead of one pass per language, each with its own part-filled
    batches, padding and per-call overhead)."""
    encoded = {lang: encode(split.examples, fmt, tokenizer, cfg, train=False) for lang, split in splits.items()}
    groups: list[list[str]] = [[]]
    for lang in encoded:
        if groups[-1] and sum(len(encoded[g].features) for g in [*groups[-1], lang]) > pass_features:
            groups.append([])
        groups[-1].append(lang)
    out: dict[str, dict[str, float]] = {}
    for group in groups:
        predictions = predict(trainer, [f for g in group for f in encoded[g].features])
        start = 0
        for g in group:
            end = start + len(encoded[g].features)
            part = _rows(predictions, start, end)
            out[g] = score_predictions(splits[g], encoded[g], part, fmt, labels, cfg, task_id, g)
            start = end
    return out


def score_predictions(
    split: Split,
    enc: Encoded,
    predictions: Any,
    fmt: str,
    labels: tuple[str, ...] | None,
    cfg: TrainConfig,
    task_id: str,
    language: str,
) -> dict[str, float]:
    """The task's metrics, each with its sampling error over test examples (``<metric>_se``,
    ``trainer.data.sampling``)."""
    if fmt == "qa":
        start, end = predictions
        answers = best_answers(split.examples, enc, start, end, cfg.max_answer_length)
        gold = {ex["id"]: ex["answers"]["text"] for ex in split.examples}
        normalize = metrics.mlqa_normalizer(iso1(language)) if task_id == "mlqa" else metrics.squad_normalize
        parts = metrics.qa_parts(answers, gold, normalize)
        return {**metrics.qa_means(parts), **sampling.qa_se(parts)}
    if fmt == "tagging":
        assert labels is not None
        predicted = word_predictions(enc, predictions)
        tags = [[labels[t] if t >= 0 else "<none>" for t in sent] for sent in predicted]
        gold_tags = [[labels[t] for t in ex["tags"]] for ex in split.examples]
        return {**metrics.tagging(tags, gold_tags), **sampling.tagging_se(tags, gold_tags)}
    predicted = np.asarray(predictions).argmax(-1).tolist()
    labels_gold = [ex["label"] for ex in split.examples]
    scores = {"accuracy": metrics.accuracy(predicted, labels_gold)}
    two_class = np.asarray(predictions).shape[-1] == 2
    if two_class:  # two classes: GLUE scores CoLA by Matthews correlation
        scores["mcc"] = metrics.mcc(predicted, labels_gold)
    return {**scores, **sampling.labels_se(predicted, labels_gold, two_class=two_class)}


def word_predictions(enc: Encoded, logits: Any) -> list[list[int]]:
    """Each word's predicted tag index, read at its first sub-token (-1: the word has none)."""
    best = np.asarray(logits).argmax(-1)
    return [[int(best[f, p]) if f >= 0 else -1 for f, p in words] for words in enc.word_positions]


def best_answers(
    examples: list[dict[str, Any]],
    enc: Encoded,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    max_answer_length: int,
    n_best: int = 20,
) -> dict[str, str]:
    """The highest-scoring valid context span of each question over all of its windows."""
    best: dict[int, tuple[float, str]] = {}
    for f, e in enumerate(enc.example_index):
        offsets = enc.offsets[f]
        n = len(offsets)
        starts = np.argsort(start_logits[f][:n])[::-1][:n_best]
        ends = np.argsort(end_logits[f][:n])[::-1][:n_best]
        for s in starts:
            for t in ends:
                if offsets[s] is None or offsets[t] is None or t < s or t - s + 1 > max_answer_length:
                    continue
                score = float(start_logits[f][s] + end_logits[f][t])
                if e not in best or score > best[e][0]:
                    context = examples[e]["context"]
                    best[e] = (score, context[offsets[s][0] : offsets[t][1]])  # type: ignore[index]
    return {ex["id"]: best.get(i, (0.0, ""))[1] for i, ex in enumerate(examples)}


@torch.no_grad()
def embed(
    encoder: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sentences: list[str],
    layer: int,
    batch_size: int,
    max_length: int,
    device: torch.device,
    desc: str,
) -> np.ndarray:
    """Mean over real tokens of hidden layer ``layer`` (0 = embeddings); shape (n, hidden)."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # less padding per batch
    out = np.zeros((len(sentences), encoder.config.hidden_size), dtype=np.float32)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    for k in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
        idx = order[k : k + batch_size]
        batch = tokenizer(
            [sentences[i] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt"
        ).to(device)
        with autocast:
            hidden = encoder(**batch, output_hidden_states=True).hidden_states[layer]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out[idx] = pooled.float().cpu().numpy()
    return out


def retrieval_layer(cfg: TrainConfig, num_hidden_layers: int) -> int:
    """jiant's X-STILTs configs pool layer 14 of XLM-R Large's 24; other depths keep that share."""
    if cfg.retrieval_layer is not None:
        return cfg.retrieval_layer
    return round(num_hidden_layers * 14 / 24)


def evaluate_retrieval(
    encoder_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    sets: dict[str, RetrievalSet],
    dev_sets: dict[str, RetrievalSet | None],
    metric: str,
    cfg: TrainConfig,
    device: torch.device,
) -> dict[str, dict[str, float]]:
    """Per language: Tatoeba accuracy, or BUCC F1 at the margin threshold chosen on dev."""
    encoder = load_encoder(encoder_dir, cfg.attn_implementation)
    encoder.to(device).eval()  # type: ignore[arg-type]
    layer = retrieval_layer(cfg, encoder.config.num_hidden_layers)
    # Position ids of RoBERTa-style models start after the padding index, so 2 positions are taken.
    max_length = min(cfg.retrieval_max_length, encoder.config.max_position_embeddings - 2)

    def side(sentences: list[str], desc: str) -> np.ndarray:
        """Each distinct sentence embedded once (BUCC repeats many), copied to its every index."""
        first, groups = mining.unique_rows(sentences)
        unique = embed(
            encoder,
            tokenizer,
            [sentences[i] for i in first],
            layer,
            cfg.eval_batch_size,  # type: ignore[arg-type]
            max_length,
            device,
            desc,
        )
        out = np.zeros((len(sentences), unique.shape[1]), dtype=unique.dtype)
        for k, group in enumerate(groups):
            out[group] = unique[k]
        return out

    def vectors(rs: RetrievalSet, lang: str) -> tuple[np.ndarray, np.ndarray]:
        return side(rs.sources, f"{lang} source"), side(rs.targets, f"{lang} target")

    results: dict[str, dict[str, float]] = {}
    for lang, rs in sets.items():
        src, tgt = vectors(rs, lang)
        if metric != "f1":
            results[lang] = {metric: metrics.retrieval_accuracy(src, tgt, rs.gold)}
            continue
        cands = mining.candidates(src, tgt, rs.sources, rs.targets)
        dev = dev_sets.get(lang)
        if dev is not None and dev.path != rs.path:
            dev_src, dev_tgt = vectors(dev, lang)
            dev_cands = mining.candidates(dev_src, dev_tgt, dev.sources, dev.targets)
            threshold, _ = mining.best_threshold(dev_cands, set(dev.gold))
            chosen_on = 1.0  # the dev split, as XTREME
        else:
            threshold, _ = mining.best_threshold(cands, set(rs.gold))
            chosen_on = 0.0  # the evaluated split itself (no dev gold): an optimistic upper bound
        results[lang] = {
            **mining.f1_at(cands, set(rs.gold), threshold),
            "threshold": threshold,
            "threshold_from_dev": chosen_on,
            "layer": float(layer),
        }
    return results
