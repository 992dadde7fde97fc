"""``stepstone train score``: hand-made gold and predictions files, through the main CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepstone.cli import app as main_app

runner = CliRunner()


def _score(*args: str) -> dict[str, object]:
    result = runner.invoke(main_app, ["train", "score", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_tagging_scores_match_seqeval_and_accuracy(tmp_path: Path) -> None:
    gold = tmp_path / "test-fr.tsv"  # XTREME's token<TAB>tag layout
    gold.write_text("le\tDET\nchat\tNOUN\nnoir\tNOUN\n\nil\tPRON\ndort\tVERB\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("DET\nNOUN\nVERB\n\nPRON\nVERB\n")
    out = _score("--task", "udpos", "--language", "fra", "--gold", str(gold), "--predictions", str(pred))
    # gold chunks: DET, NOUN NOUN (one chunk), PRON, VERB; predicted: DET, NOUN, VERB, PRON, VERB -> 3 of 4 / 5
    assert out["metric"] == "f1" and out["score"] == pytest.approx(100 * 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    assert out["accuracy"] == 80.0 and out["examples"] == 2


def test_conllu_gold_and_ner(tmp_path: Path) -> None:
    gold = tmp_path / "gold.conllu"
    rows = ["1-2\tdu" + "\t_" * 8, "1\tde\t_\tADP" + "\t_" * 6, "2\tle\t_\tDET" + "\t_" * 6]
    gold.write_text("# sent_id = 1\n" + "\n".join(rows) + "\n\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("ADP\nDET\n")
    assert _score("--task", "udpos", "--gold", str(gold), "--predictions", str(pred))["score"] == 100.0
    ner = tmp_path / "test.txt"  # MasakhaNER: DATE is outside the CoNLL-2003 types and is read as O
    ner.write_text("Ade B-PER\nlo O\nni O\nojo B-DATE\n")
    pred.write_text("B-PER\nO\nO\nO\n")
    assert _score("--task", "masakhaner", "--gold", str(ner), "--predictions", str(pred))["f1"] == 100.0


def _squad(tmp_path: Path, answer: str) -> Path:
    doc = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": f"x {answer} y",
                        "qas": [{"id": "q1", "question": "?", "answers": [{"text": answer, "answer_start": 2}]}],
                    }
                ]
            }
        ]
    }
    path = tmp_path / "gold.json"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def test_qa_uses_squad_rules_and_mlqa_rules_for_mlqa(tmp_path: Path) -> None:
    gold = _squad(tmp_path, "北京")
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"q1": "北京大学"}, ensure_ascii=False))
    mlqa = _score("--task", "mlqa", "--language", "zh", "--gold", str(gold), "--predictions", str(pred))
    assert mlqa["score"] == pytest.approx(66.67, abs=0.01) and mlqa["exact_match"] == 0.0
    xquad = _score("--task", "xquad", "--language", "zh", "--gold", str(gold), "--predictions", str(pred))
    assert xquad["f1"] == 0.0


def test_stripped_gold_answers_are_refused(tmp_path: Path) -> None:
    gold = _squad(tmp_path, "")
    pred = tmp_path / "pred.json"
    pred.write_text('{"q1": "x"}')
    args = ["train", "score", "--task", "xquad", "--gold", str(gold), "--predictions", str(pred)]
    result = runner.invoke(main_app, args)
    assert result.exit_code == 1 and "blank gold answer" in result.output and "deepmind/xquad" in result.output


def test_classification_labels_by_name_or_index(tmp_path: Path) -> None:
    gold = tmp_path / "test.tsv"
    gold.write_text("a\tb\tentailment\nc\td\tneutral\ne\tf\tcontradiction\ng\th\tneutral\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("entailment\n1\ncontradiction\n0\n")
    out = _score("--task", "xnli", "--gold", str(gold), "--predictions", str(pred))
    assert out == {**out, "metric": "accuracy", "score": 75.0, "accuracy": 75.0}


def test_text_output_and_errors(tmp_path: Path) -> None:
    gold = tmp_path / "test.tsv"
    gold.write_text("a\tb\tentailment\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("entailment\nneutral\n")
    args = ["train", "score", "--task", "xnli", "--gold", str(gold), "--predictions", str(pred)]
    result = runner.invoke(main_app, args)
    assert result.exit_code == 1 and "2 predictions, but the gold file has 1 examples" in result.output
    pred.write_text("entailment\n")
    assert "xnli eng: accuracy 100.00" in runner.invoke(main_app, args).output
    bad = runner.invoke(main_app, [*args[:3], "tatoeba", *args[4:]])
    assert bad.exit_code == 1 and "Error:" in bad.output


def test_score_does_not_import_torch(tmp_path: Path) -> None:
    gold = tmp_path / "test.tsv"
    gold.write_text("a\tDET\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("DET\n")
    code = (
        "import sys; from trainer.score import score_file; "
        f"r = score_file('udpos', {str(gold)!r}, {str(pred)!r}); assert r['score'] == 100.0, r; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_training_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    result = runner.invoke(main_app, ["train", "matrix", "--config", "m.toml"])
    assert result.exit_code == 1
    assert 'Error: the trainer needs the train extra: pip install -e ".[train]"' in result.output
