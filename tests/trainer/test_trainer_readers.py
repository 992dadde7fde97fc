"""Readers on the published layouts: the staged real files (skipped when absent) and small copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainer_fixtures import write_jsonl

from feature_store.errors import InvalidData
from trainer.data.files import (
    encode_labels,
    find_files,
    iso1,
    language_codes,
    read_files,
    read_split,
    refuse_blank_answers,
)
from trainer.data.tasks import known_task, split_sources

TASKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tasks"
real = pytest.mark.skipif(not TASKS.is_dir(), reason=f"real task data not staged at {TASKS}")


def _read(task: str, split: str, language: str) -> tuple[list[Path], object]:
    spec = known_task(task)
    assert spec is not None
    paths = find_files(TASKS, task, split, language)
    assert paths, (task, split, language)
    data = read_files(paths, spec.format, split)
    encode_labels(data, spec.format, spec.labels or None, other_tags_to_o=spec.other_tags_to_o)
    return paths, data


@real
@pytest.mark.parametrize(
    ("task", "split", "language", "file", "examples"),
    [
        ("udpos", "train", "eng", "en_lines-ud-train.conllu", 3457),
        ("udpos", "dev", "eng", "en_ewt-ud-dev.conllu", 2001),
        ("udpos", "test", "fra", "fr_gsd-ud-test.conllu", 416),
        ("udpos", "test", "tgl", "tl_trg-ud-test.conllu", 128),
        ("udpos", "test", "sme", "sme_giella-ud-test.conllu", 865),
        ("conll2003", "train", "eng", "train.txt", 14041),
        ("conll2003", "dev", "eng", "valid.txt", 3250),
        ("masakhaner", "train", "eng", "train.txt", 14041),  # MasakhaNER trains on CoNLL-2003
        ("masakhaner", "dev", "eng", "valid.txt", 3250),  # ... and checks that training on its English dev
        ("masakhaner", "test", "yor", "test.txt", 1964),
        ("masakhaner", "test", "bam", "test.txt", 1274),
    ],
)
def test_real_tagging_files(task: str, split: str, language: str, file: str, examples: int) -> None:
    paths, data = _read(task, split, language)
    assert paths[0].name == file and len(data) == examples  # type: ignore[arg-type]


@real
@pytest.mark.parametrize(
    ("task", "split", "language", "file", "examples"),
    [
        ("sib200", "train", "eng", "train.tsv", 701),
        ("sib200", "dev", "eng", "dev.tsv", 99),
        ("sib200", "test", "swa", "test.tsv", 204),  # Swahili's file is swh_Latn
        ("sib200", "test", "yor", "test.tsv", 204),
        ("cola", "train", "eng", "in_domain_train.tsv", 8551),  # no header
        ("cola", "dev", "eng", "in_domain_dev.tsv", 527),
        ("sst2", "train", "eng", "train_full.tsv", 67349),
        ("sst2", "dev", "eng", "dev.tsv", 872),
        ("rte", "train", "eng", "train.tsv", 2490),
        ("rte", "dev", "eng", "dev.tsv", 277),
        ("cosmosqa", "dev", "eng", "valid.csv", 2985),
    ],
)
def test_real_sentence_files(task: str, split: str, language: str, file: str, examples: int) -> None:
    if task == "sib200":  # labels come from the training data
        spec = known_task(task)
        paths = find_files(TASKS, task, split, language)
        data = read_files(paths, "classification", split)
        assert {e["label"] for e in data.examples} <= {
            "science/technology",
            "travel",
            "politics",
            "sports",
            "health",
            "entertainment",
            "geography",
        }
    else:
        paths, data = _read(task, split, language)
        spec = known_task(task)
    assert paths[0].name == file and len(data) == examples  # type: ignore[arg-type]
    first = data.examples[0]  # type: ignore[attr-defined]
    if spec is not None and spec.format == "mc":
        assert len(first["choices"]) == 4 and first["label"] in range(4) and first["context"]
    elif spec is not None and spec.format == "pair":
        assert first["text_a"] and first["text_b"] and first["label"] in (0, 1)


@real
def test_real_text_is_read_exactly() -> None:
    _, cola = _read("cola", "train", "eng")
    first = cola.examples[0]  # type: ignore[attr-defined]
    assert first == {"text": "Our friends won't buy this analysis, let alone the next one we propose.", "label": 1}
    sib = read_files(find_files(TASKS, "sib200", "train", "eng"), "classification", "train")
    quoted = next(e["text"] for e in sib.examples if e["text"].startswith("\u201cShe") or e["text"].startswith('"She'))
    assert quoted.startswith('"She\u2019s very cute')  # CSV quoting undone


def test_tagalog_has_its_iso1_code() -> None:
    assert iso1("tgl") == "tl" and "tl" in language_codes("tl") and language_codes("swa")[:2] == ["swa", "swh"]


def test_anli_plus_is_its_own_task() -> None:
    assert split_sources("anli+") == ["anli+"] and known_task("anli+").id == "anli+"  # type: ignore[union-attr]
    assert split_sources("anli++squad") == ["anli+", "squad"] and split_sources("mnli+squad") == ["mnli", "squad"]


def test_published_jsonl_layouts(tmp_path: Path) -> None:
    hella = write_jsonl(
        tmp_path / "h.jsonl", [{"ctx_a": "He opens", "ctx_b": "the", "endings": ["a", "b", "c", "d"], "label": "2"}]
    )
    ex = read_split(hella, "mc").examples[0]
    assert ex == {"context": "He opens", "question": "the", "choices": ["a", "b", "c", "d"], "label": 2}
    csqa = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {
                "answerKey": "B",
                "question": {"stem": "Q?", "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}]},
            }
        ],
    )
    assert read_split(csqa, "mc").examples[0] == {"question": "Q?", "choices": ["x", "y"], "label": 1}
    cosmos = write_jsonl(
        tmp_path / "q.jsonl", [{"context": "c", "question": "q", "answer0": "a", "answer1": "b", "label": 1}]
    )
    assert read_split(cosmos, "mc").examples[0]["choices"] == ["a", "b"]
    mnli = tmp_path / "dev_matched.tsv"
    mnli.write_text("index\tgenre\tsentence1\tsentence2\tgold_label\n0\tfiction\tA man.\tA person.\tentailment\n")
    assert read_split(mnli, "pair").examples[0] == {"text_a": "A man.", "text_b": "A person.", "label": "entailment"}
    qqp = tmp_path / "qqp.tsv"
    qqp.write_text("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tWhy?\tHow?\t0\n")
    assert read_split(qqp, "pair").examples[0]["text_b"] == "How?"


def test_saved_hf_dataset_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "pos_tags": datasets.Sequence(datasets.ClassLabel(names=["NOUN", "VERB"])),
        }
    )
    ds = datasets.Dataset.from_dict({"tokens": [["a", "b"]], "pos_tags": [[1, 0]]}, features=features)
    datasets.DatasetDict({"validation": ds}).save_to_disk(str(tmp_path / "udpos"))
    assert find_files(tmp_path, "udpos", "dev", "eng") == [tmp_path / "udpos"]
    split = read_files([tmp_path / "udpos"], "tagging", "dev")
    assert split.examples == [{"tokens": ["a", "b"], "tags": ["VERB", "NOUN"]}]


def test_blank_gold_answers_are_refused(tmp_path: Path) -> None:
    doc = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": "abc",
                        "qas": [{"id": "1", "question": "q", "answers": [{"answer_start": 0, "text": ""}]}],
                    }
                ]
            }
        ]
    }
    path = tmp_path / "xquad.sw.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidData, match="XTREME's preprocessing stripped") as info:
        refuse_blank_answers(read_split(path, "qa"))
    assert info.value.field == "data[0].paragraphs[0].qas[0]"


def test_glue_tsv_with_stray_quotes_is_read_unquoted(tmp_path: Path) -> None:
    mnli = tmp_path / "train.tsv"  # GLUE's own TSVs are not CSV-quoted
    mnli.write_text('sentence1\tsentence2\tgold_label\n"Hi," he said.\tHe spoke.\tentailment\nA b.\tC "d\tneutral\n')
    split = read_split(mnli, "pair")
    assert [e["text_a"] for e in split.examples] == ['"Hi," he said.', "A b."] and split.lines == [2, 3]


def test_a_target_trained_on_another_tasks_english_data_checks_on_that_tasks_english_dev(tmp_path: Path) -> None:
    """MasakhaNER fine-tunes on CoNLL-2003 English and has no English dev of its own: the phase-2 dev
    check reads CoNLL-2003's, so a fine-tuning that collapsed (F1 0 everywhere) is caught; a language's
    own dev split is never replaced by English data."""
    conll = tmp_path / "ner" / "conll2003_en"
    conll.mkdir(parents=True)
    for name in ("train.txt", "valid.txt"):
        (conll / name).write_text("EU B-ORG\nrejects O\n\n")
    yor = tmp_path / "ner" / "masakhaner2" / "yor"
    yor.mkdir(parents=True)
    (yor / "test.txt").write_text("Ade B-PER\n\n")
    assert find_files(tmp_path, "masakhaner", "dev", "eng") == [conll / "valid.txt"]
    assert find_files(tmp_path, "masakhaner", "train", "eng") == [conll / "train.txt"]
    assert find_files(tmp_path, "masakhaner", "dev", "yor") == []
    assert find_files(tmp_path, "masakhaner", "test", "eng") == []
