"""Readers, label handling, metrics and configs: no model involved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainer_fixtures import write_jsonl

from feature_store.errors import InvalidData, InvalidRequest
from trainer.cell.model import ProportionalBatchSampler
from trainer.cell.steps import make_plan, resolve_task
from trainer.config import CellConfig, MatrixConfig, TrainConfig, load_matrix, parse_shard
from trainer.data.files import encode_labels, eval_cap, find_file, infer_labels, read_split, subsample
from trainer.data.retrieval import load_retrieval
from trainer.data.tasks import infer_format
from trainer.matrix.run import expand, shard


def test_canonical_and_xtreme_files_are_found(data_dir: Path) -> None:
    assert find_file(data_dir, "xnli", "test", "sw") == data_dir / "xnli" / "test-swa.jsonl"
    assert find_file(data_dir, "UD-POS", "test", "swa") == data_dir / "udpos" / "test-sw.tsv"
    xtreme = data_dir / "xtreme"
    assert find_file(xtreme, "xquad", "test", "swa") == xtreme / "xquad" / "xquad.sw.json"
    assert find_file(xtreme, "xquad", "train", "eng") == xtreme / "squad" / "train-v1.1.json"


def test_each_format_reads_into_canonical_examples(data_dir: Path) -> None:
    conllu = read_split(data_dir / "udpos" / "train-eng.conllu", "tagging")
    assert conllu.examples[0]["tokens"] and conllu.lines[0] == 2  # after the "# sent_id" comment
    tsv = read_split(data_dir / "udpos" / "test-sw.tsv", "tagging")
    assert len(tsv) == 4 and all(len(e["tokens"]) == len(e["tags"]) for e in tsv.examples)
    squad = read_split(data_dir / "xtreme" / "squad" / "train-v1.1.json", "qa")
    ex = squad.examples[0]
    start = ex["answers"]["answer_start"][0]
    assert ex["context"][start : start + len(ex["answers"]["text"][0])] == ex["answers"]["text"][0]
    bucc = load_retrieval(data_dir, "bucc", ("test",), "swa")
    assert len(bucc.sources) == 4 and len(bucc.targets) == 6 and bucc.gold == [(0, 1), (2, 3)]


def test_pair_tsv_in_xtreme_layout(tmp_path: Path) -> None:
    path = tmp_path / "pawsx" / "dev-de.tsv"
    path.parent.mkdir()
    path.write_text('ein satz\tzwei satz\t1\n"mit ""quote"""\tb\t0\n')
    split = read_split(path, "pair")
    encode_labels(split, "pair", ("0", "1"))
    assert [e["label"] for e in split.examples] == [1, 0] and split.examples[1]["text_a"] == 'mit "quote"'


def test_labels_inferred_and_encoded(data_dir: Path) -> None:
    split = read_split(data_dir / "sentiment" / "train-eng.jsonl", "classification")
    labels = infer_labels(split, "classification")
    assert labels == ("neg", "pos")
    encode_labels(split, "classification", labels)
    assert {e["label"] for e in split.examples} == {0, 1}
    nli = read_split(data_dir / "mnli" / "train-eng.jsonl", "pair")
    encode_labels(nli, "pair", ("entailment", "neutral", "contradiction"))
    assert [e["label"] for e in nli.examples[:3]] == [0, 1, 2]  # names and indices both accepted


def test_unknown_task_format_is_inferred(data_dir: Path) -> None:
    assert resolve_task("sentiment", data_dir).format == "classification"
    assert infer_format({"tokens": [], "tags": []}) == "tagging"
    assert infer_format({"source": "a", "target": None}) == "retrieval"


def test_subsample_is_seeded_and_keeps_order(data_dir: Path) -> None:
    split = read_split(data_dir / "sst2" / "train-eng.jsonl", "classification")
    a, b = subsample(split, 5, seed=3), subsample(split, 5, seed=3)
    assert a.lines == b.lines == sorted(a.lines) and len(a) == 5


def test_evaluation_caps_keep_every_label_and_the_same_sentences_in_every_language(tmp_path: Path) -> None:
    # SIB-200's test files are sorted by topic: the first 100 of 204 hold 3 of the 7 topics
    topics = [t for t, n in [("sci", 51), ("travel", 40), ("politics", 30), ("sports", 25), ("health", 22),
                             ("ent", 19), ("geo", 17)] for _ in range(n)]  # fmt: skip
    splits = {}
    for lang in ("eng", "yor"):
        rows = [{"text": f"{lang} sentence {i}", "label": t} for i, t in enumerate(topics)]
        write_jsonl(tmp_path / f"test-{lang}.jsonl", rows)
        splits[lang] = read_split(tmp_path / f"test-{lang}.jsonl", "classification")
    first = eval_cap(splits["eng"], 100, "head")
    assert len({ex["label"] for ex in first.examples}) == 3  # what the old prefix cap evaluated
    drawn = {lang: eval_cap(split, 100) for lang, split in splits.items()}
    assert len(drawn["eng"]) == 100 and len({ex["label"] for ex in drawn["eng"].examples}) == 7
    assert drawn["eng"].lines == drawn["yor"].lines == sorted(drawn["eng"].lines)  # parallel: same sentences
    assert eval_cap(splits["eng"], 100).lines == drawn["eng"].lines  # the same draw for every cell and seed
    assert eval_cap(splits["eng"], None) is splits["eng"] and eval_cap(splits["eng"], 500) is splits["eng"]
    with pytest.raises(InvalidRequest, match="eval_cap = 'first'"):
        TrainConfig(eval_cap="first")


@pytest.mark.parametrize(
    ("name", "content", "fmt", "line", "field"),
    [
        ("bad.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": \n', "classification", 2, None),
        ("bad.jsonl", '{"text_a": "a", "text_b": "b", "label": 0}\n{"text_a": "a", "label": 1}\n', "pair", 2, "text_b"),
        ("bad.jsonl", '\n{"tokens": ["a", "b"], "tags": ["NOUN"]}\n', "tagging", 2, "tags"),
        (
            "bad.jsonl",
            '{"context": "abc", "question": "q", "answers": {"text": ["x"], "answer_start": [9]}}\n',
            "qa",
            1,
            "answers",
        ),
        (
            "bad.jsonl",
            '{"question": "q", "choices": ["a", "b"], "label": 0}\n'
            '{"question": "q", "choices": ["a", "b", "c"], "label": 0}\n',
            "mc",
            2,
            "choices",
        ),
        ("bad.conll", "Paris\tB-LOC\nis\n", "tagging", 2, "tag"),
        ("bad.tsv", "premise\thypothesis\tentailment\npremise only\n", "pair", 2, "text_b"),
    ],
)
def test_bad_files_name_file_line_and_field(
    tmp_path: Path, name: str, content: str, fmt: str, line: int, field: str | None
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidData) as info:
        read_split(path, fmt)
    assert info.value.path == str(path) and info.value.line == line and info.value.field == field
    assert str(path) in str(info.value) and f"line {line}" in str(info.value)


def test_unknown_label_names_its_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "x.jsonl",
        [{"text_a": "a", "text_b": "b", "label": "entailment"}, {"text_a": "a", "text_b": "b", "label": "maybe"}],
    )
    split = read_split(path, "pair")
    with pytest.raises(InvalidData, match="unknown label 'maybe'") as info:
        encode_labels(split, "pair", ("entailment", "neutral", "contradiction"))
    assert (info.value.line, info.value.field) == (2, "label")


def test_bad_squad_json_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "dev-eng.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "answers": []}]}]}]}))
    with pytest.raises(InvalidData) as info:
        read_split(path, "qa")
    assert info.value.field == "data[0].paragraphs[0].qas[0].question"
    path.write_text('{"data": [\n  {"paragraphs": oops}]}')
    with pytest.raises(InvalidData) as info:
        read_split(path, "qa")
    assert info.value.line == 2


def test_missing_data_says_where_it_looked(data_dir: Path, model_dir: Path) -> None:
    cfg = CellConfig(model=model_dir, data=data_dir, target_task="xnli", languages=["yor"], source_task="qqp")
    from trainer.cell.steps import load_training_set

    with pytest.raises(InvalidData, match="qqp/train-eng.jsonl"):
        load_training_set(cfg, make_plan(cfg).sources[0], "eng")


def test_plan_names_cells_and_runs(data_dir: Path, model_dir: Path) -> None:
    cfg = CellConfig(
        model=model_dir,
        data=data_dir,
        target_task="XNLI",
        languages=["sw", "Yoruba", "swa"],
        source_task="MNLI+squad",
        seed=2,
        intermediate_size=100,
    )
    plan = make_plan(cfg)
    assert plan.languages == ["swa", "yor"] and plan.source_task == "mnli+squad"
    assert plan.cell_id == f"tiny-xlmr.{plan.model_hash[:8]}/xnli/mnli+squad.eng/seed2.n100" and not plan.is_baseline
    base = make_plan(CellConfig(model=model_dir, data=data_dir, target_task="xnli", languages=["swa"]))
    assert base.is_baseline and base.source_task == "xnli" and base.sources == []
    with pytest.raises(InvalidRequest, match="retrieval"):
        make_plan(
            CellConfig(model=model_dir, data=data_dir, target_task="xnli", languages=["swa"], source_task="tatoeba")
        )


def test_proportional_sampler_draws_from_every_task_in_proportion() -> None:
    sampler = ProportionalBatchSampler([0] * 12 + [1] * 4, batch_size=4, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 4
    task_of = [0] * 12 + [1] * 4
    tasks = [{task_of[i] for i in b} for b in batches]
    assert all(len(t) == 1 for t in tasks)  # single-task batches
    assert sorted(t.pop() for t in tasks) == [0, 0, 0, 1]
    assert sorted(i for b in batches for i in b) == list(range(16))
    assert batches == list(ProportionalBatchSampler([0] * 12 + [1] * 4, batch_size=4, seed=1))


def test_matrix_config_expands_and_shards(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'data = "data"\nmodels = ["models/a"]\nsource_tasks = ["none", "mnli", "squad"]\n'
        'target_tasks = ["xnli", "udpos"]\nseeds = [1, 2]\nintermediate_sizes = [0, 1000]\n'
        '[languages]\nxnli = ["swa"]\nudpos = ["yor", "swa"]\n[train]\nmax_steps = 2\n'
    )
    matrix = load_matrix(path)
    assert matrix.data == tmp_path / "data" and matrix.train.max_steps == 2
    cells = expand(matrix)
    assert len(cells) == 2 * 2 * (1 + 2 * 2)
    assert cells[0].source_task == "none" and cells[0].languages == ["swa"]
    slices = [shard(cells, i, 3) for i in (1, 2, 3)]
    ids = [id(c) for s in slices for c in s]
    assert sorted(ids) == sorted(id(c) for c in cells) and len(set(ids)) == len(cells)
    for s in slices:  # the cells that share a phase-1 encoder stay together
        keys = {(c.seed, c.source_task, c.intermediate_size) for c in s if c.source_task != "none"}
        for c in cells:
            if (c.seed, c.source_task, c.intermediate_size) in keys:
                assert any(c is d for d in s)


def test_config_errors() -> None:
    with pytest.raises(InvalidRequest, match="unknown key 'epochz'"):
        TrainConfig.from_dict({"epochz": 3})
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (1, 1)
    for bad in ("0/4", "5/4", "2-4", "a/b"):
        with pytest.raises(InvalidRequest):
            parse_shard(bad)
    with pytest.raises(InvalidRequest, match="no languages listed"):
        MatrixConfig(
            data=Path("d"), models=[], source_tasks=[], target_tasks=[], languages={"xnli": ["swa"]}
        ).languages_for("udpos")
