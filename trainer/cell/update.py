"""One update of a training phase, without the fixed costs that do not train anything.

- ``TableAdamW``: AdamW (HF's groups: no decay on biases and LayerNorm) whose
  ``clip_grad_norm_`` clips the global gradient norm on the device with no host synchronisation
  (the norm stays a tensor, read when the loss is logged), sparse gradients included. With
  ``embedding_update = "sparse"`` the word-embedding table gets a sparse gradient (only the rows
  of the batch's tokens) and a lazy AdamW step on those rows, as TensorFlow's LazyAdam does: rows
  a batch does not use keep their weights and moments. A dense step reads and writes all 250k
  rows (96 M of mE5-small's 118 M parameters) every update. On a GPU the table stays dense
  (``resolve_table``): measured on an H200, the sparse step was slower there.
- ``BucketGraphs``: on a GPU with bf16, the forward and backward of each (bucket length, batch
  size) are captured once as CUDA graphs (``torch.cuda.make_graphed_callables``) and replayed,
  so an update is a few launches instead of thousands; batches of another shape (the last, short
  batch of an epoch) run eagerly. On a GPU the collators pad to a multiple of ``tokens.BUCKET``
  (16) tokens and ``loop.LengthBuckets`` groups lengths, so that few shapes recur.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from trainer.config import TrainConfig
from trainer.world import world_size

log = logging.getLogger("stepstone.trainer")

TABLE_MODES = ("auto", "dense", "sparse")


def resolve_table(cfg: TrainConfig, gpu: bool) -> str:
    """``dense``, ``sparse`` or ``frozen``: how this phase updates the word-embedding table.

    ``auto`` is sparse on a CPU in one process (the fastest there at the same scores) and dense on a
    GPU, where the fused dense step costs a few milliseconds and a sparse gradient's coalescing
    would synchronise the host every update; DDP needs dense gradients."""
    if cfg.freeze_embeddings:
        return "frozen"
    if cfg.embedding_update == "auto":
        return "sparse" if not gpu and world_size() == 1 else "dense"
    if cfg.embedding_update == "sparse" and world_size() > 1:
        return "dense"
    return cfg.embedding_update


def word_embeddings(model: nn.Module) -> nn.Embedding:
    get = getattr(model, "get_input_embeddings", None)
    table = get() if get is not None else model.encoder.get_input_embeddings()  # type: ignore[union-attr,operator]
    assert isinstance(table, nn.Embedding)
    return table


class TableAdamW(torch.optim.AdamW):
    """AdamW with in-optimiser clipping and a lazily updated embedding table (module docstring)."""

    def _tables(self) -> list[tuple[dict[str, Any], torch.Tensor]]:
        """(group, table) for every lazily updated table with a gradient, the gradient coalesced."""
        out = []
        for group in self.param_groups:
            for p in group["params"] if group.get("table") else ():
                if p.grad is not None:
                    if not p.grad.is_coalesced():
                        p.grad = p.grad.coalesce()  # a row used by several tokens: one summed row
                    out.append((group, p))
        return out

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        tables = self._tables()
        all_groups = self.param_groups
        self.param_groups = [g for g in all_groups if not g.get("table")]
        try:
            super().step()
        finally:
            self.param_groups = all_groups
        for group, p in tables:
            if p.grad is not None:
                self._lazy_step(group, p, p.grad)
        return None

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale every gradient so that their global L2 norm is at most ``max_norm`` (as
        ``torch.nn.utils.clip_grad_norm_``, sparse tables included); the norm before, on the device."""
        grads = [p.grad for g in self.param_groups if not g.get("table") for p in g["params"] if p.grad is not None]
        sparse = [p.grad for _, p in self._tables() if p.grad is not None]
        norms = [torch.linalg.vector_norm(g.values()) for g in sparse]
        if grads:
            norms += list(torch._foreach_norm(grads))
        if not norms:
            return torch.zeros(())
        total = torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        if grads:
            torch._foreach_mul_(grads, coef.to(grads[0].device))
        for g in sparse:
            g.values().mul_(coef)
        return total

    def _lazy_step(self, group: dict[str, Any], p: torch.Tensor, grad: torch.Tensor) -> None:
        """AdamW on the rows ``grad`` touches: their moments, bias-corrected by the table's step."""
        state = self.state[p]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        step = float(state["step"])
        rows, values = grad.indices()[0], grad.values()
        beta1, beta2 = group["betas"]
        lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
        m = state["exp_avg"].index_select(0, rows).mul_(beta1).add_(values, alpha=1 - beta1)
        v = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
        state["exp_avg"].index_copy_(0, rows, m)
        state["exp_avg_sq"].index_copy_(0, rows, v)
        bias1, bias2 = 1 - beta1**step, 1 - beta2**step
        denom = (v / bias2).sqrt_().add_(eps)
        weights = p.index_select(0, rows)
        if decay:
            weights.mul_(1 - lr * decay)
        weights.addcdiv_(m, denom, value=-lr / bias1)
        p.index_copy_(0, rows, weights)


def build_optimizer(model: nn.Module, decay_names: Iterable[str], cfg: TrainConfig, *, lr: float, gpu: bool
                    ) -> TableAdamW:
    """The phase's optimiser; ``model``'s embedding table is made sparse when the mode says so."""
    mode = resolve_table(cfg, gpu)
    table = word_embeddings(model)
    decay = set(decay_names)
    groups: list[dict[str, Any]] = [
        {"params": [], "weight_decay": cfg.weight_decay},
        {"params": [], "weight_decay": 0.0},
    ]
    for name, p in model.named_parameters():
        if not p.requires_grad or (mode == "sparse" and p is table.weight):
            continue
        groups[0 if name in decay else 1]["params"].append(p)
    if mode == "sparse":
        table.sparse = True
        groups.append({"params": [table.weight], "weight_decay": cfg.weight_decay, "table": True})
    kwargs: dict[str, Any] = {"fused": True} if gpu else {"foreach": True}
    return TableAdamW([g for g in groups if g["params"]], lr=lr, **kwargs)


class _LossOf(nn.Module):
    """The model's loss as a function of its tensor inputs, in bf16 autocast (what a graph captures)."""

    def __init__(self, model: nn.Module, keys: tuple[str, ...], extra: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.keys, self.extra = model, keys, extra

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        kwargs = dict(zip(self.keys, tensors, strict=True))
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            # the class's forward: an accelerate-prepared model's own forward adds a caching autocast
            out = type(self.model).forward(self.model, **kwargs, **self.extra)
        loss = out["loss"] if isinstance(out, dict) else out.loss
        return loss.float()


class BucketGraphs:
    """CUDA graphs of forward + backward, one per input shape, captured the first time a shape comes."""

    def __init__(self, max_graphs: int = 32) -> None:
        self.graphs: dict[tuple[Any, ...], nn.Module] = {}
        self.max_graphs = max_graphs
        self.captured_s = 0.0  # time spent capturing (reported with the phase's throughput)
        self.failed: str | None = None  # why capturing stopped; the phase then runs eagerly

    def loss(self, model: nn.Module, inputs: dict[str, Any]) -> torch.Tensor | None:
        """The graphed loss of this batch (backward replays too), or None: run it eagerly."""
        keys = tuple(sorted(k for k, v in inputs.items() if isinstance(v, torch.Tensor)))
        extra = {k: v for k, v in inputs.items() if not isinstance(v, torch.Tensor)}
        tensors = tuple(inputs[k] for k in keys)
        if not tensors or tensors[0].device.type != "cuda":
            return None
        key = (keys, tuple(t.shape for t in tensors), tuple(sorted(extra.items())))
        graphed = self.graphs.get(key)
        if graphed is None:
            if len(self.graphs) >= self.max_graphs or self.failed is not None:
                return None
            try:
                graphed = self._capture(model, keys, extra, tensors)
            except RuntimeError as exc:  # a model whose forward cannot be captured still trains, eagerly
                self.failed = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("CUDA graphs off for this phase: %s", self.failed)
                torch.cuda.synchronize()
                return None
            self.graphs[key] = graphed
        return graphed(*tensors)

    def summary(self) -> dict[str, Any]:
        return {"graphs": len(self.graphs), "capture_s": round(self.captured_s, 2), "failed": self.failed}

    def _capture(self, model: nn.Module, keys: tuple[str, ...], extra: dict[str, Any],
                 tensors: tuple[torch.Tensor, ...]) -> nn.Module:
        import time

        start = time.perf_counter()
        samples = tuple(t.clone() for t in tensors)
        with torch.autocast("cuda", enabled=False):
            graphed = torch.cuda.make_graphed_callables(
                _LossOf(model, keys, extra), samples, num_warmup_iters=2, allow_unused_input=True
            )
        torch.cuda.synchronize()
        self.captured_s += time.perf_counter() - start
        log.info("captured a CUDA graph for %s %s", keys, [tuple(t.shape) for t in tensors])
        return graphed  # type: ignore[return-value,no-any-return]
