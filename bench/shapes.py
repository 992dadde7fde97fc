"""Random-init encoder shapes built from a config (no weights, no download) and features of the
trainer's workloads, for ``bench/trainer_loop.py`` on a GPU.

  xlmr-large  24 layers, hidden 1024, 16 heads, FFN 4096, XLM-R's 250,002-row vocabulary
  me5-small   12 layers, hidden 384, 12 heads, FFN 1536, 250,037 rows (multilingual-e5-small)
  tiny        2 layers, hidden 64 (shows on a CPU that the script runs)

Workloads, as the trainer sees them after tokenisation: ``nli`` sentence pairs (3 labels) whose
lengths follow XNLI/MNLI's (mean about 48 tokens, at most 128), ``qa`` SQuAD windows of 384 tokens
(the last window of a context shorter), ``tagging`` UD-POS sentences (mean about 28 tokens).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    BertConfig,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
)

SHAPES: dict[str, tuple[type, dict[str, int]]] = {
    "xlmr-large": (XLMRobertaConfig, {"num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16,
                                      "intermediate_size": 4096, "vocab_size": 250_002}),
    "me5-small": (BertConfig, {"num_hidden_layers": 12, "hidden_size": 384, "num_attention_heads": 12,
                               "intermediate_size": 1536, "vocab_size": 250_037}),
    "tiny": (XLMRobertaConfig, {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
                                "intermediate_size": 256, "vocab_size": 250_002}),
}
# workload -> (format, batch, examples per update of 'steps')
WORKLOADS = {"nli": ("pair", 32), "qa": ("qa", 16), "tagging": ("tagging", 32)}
HEADS = {"pair": AutoModelForSequenceClassification, "qa": AutoModelForQuestionAnswering,
         "tagging": AutoModelForTokenClassification}
TAGS = 17


def config(shape: str, fmt: str) -> Any:
    cls, dims = SHAPES[shape]
    pad = 1 if cls is XLMRobertaConfig else 0
    return cls(**dims, max_position_embeddings=514, pad_token_id=pad, num_labels={"pair": 3, "qa": 2}.get(fmt, TAGS),
               attn_implementation="sdpa")


def model(shape: str, fmt: str, device: str = "cpu") -> Any:
    with torch.device(device):  # random init where it will train: seconds, not a minute, for 560 M
        built = HEADS[fmt].from_config(config(shape, fmt), attn_implementation="sdpa")
    built.accepts_loss_kwargs = False
    return built


def _length(workload: str, rng: random.Random) -> int:
    if workload == "nli":
        return min(128, max(8, int(rng.lognormvariate(math.log(44), 0.45))))
    if workload == "tagging":
        return min(256, max(4, int(rng.lognormvariate(math.log(25), 0.6))))
    return 384 if rng.random() < 0.8 else rng.randint(128, 384)


def features(shape: str, workload: str, steps: int, batch: int | None, rng: random.Random
             ) -> tuple[str, int, list[dict[str, Any]]]:
    """(format, batch, features): enough examples for ``steps`` updates of one epoch."""
    fmt, default_batch = WORKLOADS[workload]
    batch = batch or default_batch
    vocab = SHAPES[shape][1]["vocab_size"]
    out = []
    for _ in range(steps * batch):
        n = _length(workload, rng)
        ids = [0] + [rng.randrange(5, vocab) for _ in range(n - 2)] + [2]
        f: dict[str, Any] = {"input_ids": ids, "attention_mask": [1] * n}
        if fmt == "pair":
            f["labels"] = rng.randrange(3)
        elif fmt == "tagging":
            f["labels"] = [-100] + [rng.randrange(TAGS) for _ in range(n - 2)] + [-100]
        else:
            start = rng.randrange(1, n - 1)
            f["start_positions"], f["end_positions"] = start, min(n - 2, start + rng.randrange(0, 8))
        out.append(f)
    return fmt, batch, out


def Pad() -> PreTrainedTokenizerFast:  # noqa: N802  (stands where a tokenizer class would)
    """A tokenizer that only pads (id 1), for the trainer's collators on synthetic features."""
    tok = Tokenizer(WordLevel({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")


def synthetic_step(make_model: Any, feats: list[dict[str, Any]], batch: int, device: torch.device
                   ) -> dict[str, float]:
    """The synthetic step of ``bench/trainer_throughput.py`` on these features: batches padded and
    on the device up front, bf16 autocast, loss, backward, clipping, fused AdamW; nothing else."""
    import loop_parts

    net = make_model().to(device).train()
    gpu = device.type == "cuda"
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.01,
                            fused=gpu or None)
    rows = loop_parts.length_grouped([len(f["input_ids"]) for f in feats], batch, random.Random(0))
    batches = [loop_parts.pad([feats[i] for i in r], 1, 8 if gpu else 1, device) for r in rows]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if gpu else torch.autocast("cpu", enabled=False)
    if gpu:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for b in batches:
        with autocast:
            loss = net(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    if gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return loop_parts.figures(seconds, len(batches), loop_parts.tokens_of(feats),
                              loop_parts.useful_flops(net, feats), gpu)
