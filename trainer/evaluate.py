"""Phase 3: zero-shot evaluation of a trained head model (or a bare encoder) in one language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

from trainer import metrics
from trainer.config import TrainConfig
from trainer.data import Split
from trainer.features import Encoded, encode
from trainer.model import load_encoder
from trainer.retrieval import RetrievalSet


def evaluate_split(
    trainer: Trainer,
    split: Split,
    fmt: str,
    labels: tuple[str, ...] | None,
    tokenizer: PreTrainedTokenizerBase,
    cfg: TrainConfig,
) -> dict[str, float]:
    """The task's metrics (0-100) of the phase-2 model on one labelled split."""
    enc = encode(split.examples, fmt, tokenizer, cfg, train=False)
    predictions: Any = trainer.predict(enc.features).predictions  # type: ignore[arg-type]
    if fmt == "qa":
        start, end = predictions
        answers = best_answers(split.examples, enc, start, end, cfg.max_answer_length)
        gold = {ex["id"]: ex["answers"]["text"] for ex in split.examples}
        return metrics.squad(answers, gold)
    if fmt == "tagging":
        assert labels is not None
        return {
            "f1": _tagging_f1(split, enc, predictions, labels),
            "accuracy": _tagging_accuracy(split, enc, predictions),
        }
    predicted = np.asarray(predictions).argmax(-1).tolist()
    return {"accuracy": metrics.accuracy(predicted, [ex["label"] for ex in split.examples])}


def _word_predictions(split: Split, enc: Encoded, logits: np.ndarray, fallback: int) -> list[list[int]]:
    best = np.asarray(logits).argmax(-1)
    return [
        [int(best[i, p]) if p >= 0 else fallback for p in enc.word_positions[i]] for i in range(len(split.examples))
    ]


def _tagging_f1(split: Split, enc: Encoded, logits: np.ndarray, labels: tuple[str, ...]) -> float:
    # A word cut off by truncation gets "O" (or the first tag): it counts as a miss, not as absent.
    fallback = labels.index("O") if "O" in labels else 0
    predicted = _word_predictions(split, enc, logits, fallback)
    to_names = [[labels[t] for t in sent] for sent in predicted]
    gold = [[labels[t] for t in ex["tags"]] for ex in split.examples]
    return metrics.tagging_f1(to_names, gold, labels)


def _tagging_accuracy(split: Split, enc: Encoded, logits: np.ndarray) -> float:
    predicted = _word_predictions(split, enc, logits, -1)
    flat_p = [t for sent in predicted for t in sent]
    flat_g = [t for ex in split.examples for t in ex["tags"]]
    return metrics.accuracy(flat_p, flat_g)


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


def evaluate_retrieval(
    encoder_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    sets: dict[str, RetrievalSet],
    metric: str,
    cfg: TrainConfig,
    device: torch.device,
) -> dict[str, dict[str, float]]:
    """Per language: accuracy (Tatoeba) or F1 (BUCC) of cosine nearest neighbours."""
    encoder = load_encoder(encoder_dir, cfg.attn_implementation)
    encoder.to(device).eval()  # type: ignore[arg-type]
    layer = cfg.retrieval_layer if cfg.retrieval_layer is not None else encoder.config.num_hidden_layers // 2
    results = {}
    for lang, rs in sets.items():
        src = embed(
            encoder, tokenizer, rs.sources, layer, cfg.eval_batch_size, cfg.max_seq_length, device, f"{lang} source"
        )
        tgt = embed(
            encoder, tokenizer, rs.targets, layer, cfg.eval_batch_size, cfg.max_seq_length, device, f"{lang} target"
        )
        score = metrics.bucc_f1(src, tgt, rs.gold) if metric == "f1" else metrics.retrieval_accuracy(src, tgt, rs.gold)
        results[lang] = {metric: score}
    return results
