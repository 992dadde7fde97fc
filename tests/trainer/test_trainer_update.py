"""The lean update: the lazily updated embedding table, clipping without a host sync, length
buckets, and GPU-hours priced at the measured rate with small models packed on a GPU."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, XLMRobertaConfig
from transformers.trainer_pt_utils import get_length_grouped_indices

from feature_store import throughput
from feature_store.errors import InvalidRequest
from trainer.cell.loop import LengthBuckets
from trainer.cell.run import run_cell
from trainer.cell.update import TableAdamW, build_optimizer, resolve_table, word_embeddings
from trainer.config import CellConfig, MatrixConfig, TrainConfig
from trainer.matrix import estimate
from trainer.matrix.graph import build_graph


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=40, num_labels=2)
    return AutoModelForSequenceClassification.from_config(cfg)


def _step(mode: str) -> tuple[torch.nn.Module, torch.Tensor, TableAdamW]:
    model = _model()
    before = word_embeddings(model).weight.detach().clone()
    train = TrainConfig(embedding_update=mode, weight_decay=0.01)
    names = [n for n, _ in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
    opt = build_optimizer(model, names, train, lr=1e-2, gpu=False)
    ids = torch.tensor([[0, 7, 9, 7, 2], [0, 11, 2, 1, 1]])
    loss = model(input_ids=ids, attention_mask=(ids != 1).long(), labels=torch.tensor([0, 1])).loss
    loss.backward()
    opt.clip_grad_norm_(1.0)
    opt.step()
    return model, before, opt


def test_the_sparse_table_moves_only_the_rows_a_batch_used() -> None:
    model, before, _ = _step("sparse")
    after = word_embeddings(model).weight.detach()
    moved = sorted(torch.nonzero((after != before).any(dim=1)).flatten().tolist())
    assert moved == [0, 2, 7, 9, 11]  # the batch's tokens; padding (1) has no gradient


def test_a_first_lazy_step_equals_the_dense_step_on_the_rows_used() -> None:
    sparse, before, _ = _step("sparse")
    dense, _, _ = _step("dense")
    rows = torch.tensor([0, 2, 7, 9, 11])
    a, b = word_embeddings(sparse).weight.detach(), word_embeddings(dense).weight.detach()
    assert torch.allclose(a[rows], b[rows], atol=1e-6)
    # dense AdamW also decays the rows no token used; the lazy update leaves them alone
    assert torch.equal(a[3], before[3]) and not torch.equal(b[3], before[3])


def test_clipping_matches_torch_with_a_sparse_table_and_returns_the_norm() -> None:
    model = _model()
    word_embeddings(model).sparse = True
    ids = torch.tensor([[0, 7, 9, 7, 2]])
    model(input_ids=ids, labels=torch.tensor([1])).loss.backward()
    dense_grads = [p.grad.to_dense() if p.grad.is_sparse else p.grad.clone() for p in model.parameters()
                   if p.grad is not None]
    expected = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in dense_grads]))
    opt = TableAdamW([{"params": [p for p in model.parameters() if p is not word_embeddings(model).weight]},
                      {"params": [word_embeddings(model).weight], "table": True}], lr=1e-3)
    norm = opt.clip_grad_norm_(0.01)
    assert torch.allclose(norm, expected)
    clipped = [p.grad.to_dense() if p.grad.is_sparse else p.grad for p in model.parameters() if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in clipped]))
    assert total == pytest.approx(0.01, rel=1e-3)


def test_the_table_rule_follows_the_device_and_the_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_table(TrainConfig(), gpu=False) == "sparse"
    assert resolve_table(TrainConfig(), gpu=True) == "dense"  # measured slower sparse on an H200
    assert resolve_table(TrainConfig(freeze_embeddings=True), gpu=False) == "frozen"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert resolve_table(TrainConfig(embedding_update="sparse"), gpu=False) == "dense"  # DDP: dense gradients
    with pytest.raises(InvalidRequest, match="embedding_update = 'lazy'"):
        TrainConfig(embedding_update="lazy")


def test_a_cell_trains_with_the_sparse_table_and_says_so_in_its_hash(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    def cell(mode: str) -> CellConfig:
        train = dataclasses.replace(tiny_train, embedding_update=mode)
        return CellConfig(model=model_dir, data=data_dir, target_task="sentiment", languages=["swa"],
                          out=tmp_path / mode, train=train)

    sparse, dense = run_cell(cell("sparse")), run_cell(cell("dense"))
    assert sparse.runs[0].config_hash != dense.runs[0].config_hash  # different arithmetic, different runs
    assert all(0.0 <= s <= 100.0 for s in sparse.scores.values())


def test_length_buckets_pad_less_and_keep_every_example_once() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(5, 100) for _ in range(600)]
    torch.manual_seed(0)
    order = list(LengthBuckets(lengths, 32))
    assert sorted(order) == list(range(600))
    batches = [order[k : k + 32] for k in range(0, 600, 32)]
    assert all(len(b) == 32 for b in batches[:-1])  # the short batch comes last

    def padded(batches: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    hf = get_length_grouped_indices(lengths, 32, generator=torch.Generator().manual_seed(0))
    assert padded(batches) < 0.9 * padded([hf[k : k + 32] for k in range(0, 600, 32)])


def _matrix(tmp_path: Path, hidden: int, layers: int, ffn: int) -> MatrixConfig:
    model = tmp_path / f"m{hidden}"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"num_hidden_layers": layers, "hidden_size": hidden,
                                                   "intermediate_size": ffn}))
    return MatrixConfig(data=tmp_path, models=[model], source_tasks=["none", "mnli"], target_tasks=["xnli"],
                        languages=["swa"], train=TrainConfig())


def test_jobs_are_priced_at_the_measured_rate_and_small_models_are_packed(tmp_path: Path) -> None:
    large = build_graph(_matrix(tmp_path, 1024, 24, 4096))
    small = build_graph(_matrix(tmp_path, 384, 12, 1536))
    assert {j.cells_per_gpu for j in large} == {1} and {j.cells_per_gpu for j in small} == {4}
    # the MNLI phase 1 of XLM-R Large: its tokens at the rate measured for that shape and length
    phase1 = next(j for j in large if j.phase == 1)
    tokens = estimate.tokens("mnli", estimate.examples("mnli") or 0, 3.0) or 0.0
    measured = tokens / throughput.tokens_per_second(None, 48) + throughput.capture_seconds(None)
    assert phase1.estimated_gpu_hours == pytest.approx(measured / 3600, rel=0.01)
    (tmp_path / "given").mkdir()
    given = build_graph(_matrix(tmp_path / "given", 1024, 24, 4096), tokens_per_s=200_000.0)  # a rate by hand
    assert next(j for j in given if j.phase == 1).estimated_gpu_hours < phase1.estimated_gpu_hours


def test_the_measured_rows_reproduce_their_own_runs() -> None:
    """The estimate of a measured run's tokens gives that run's seconds back (within 2x by design)."""
    for r in throughput.rates():
        tokens = r.tokens_per_s * 600.0  # ten minutes at the captured rate
        seconds = tokens / throughput.tokens_per_second(r.params, r.tokens_per_sequence) + r.capture_s
        assert seconds == pytest.approx(600.0 + r.capture_s, rel=1e-6)
