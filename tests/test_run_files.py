"""Run files: one set of rules for CSV, JSONL and JSON lists; bad input is an InvalidRun naming the
cell, never a crash; an accepted file exported and imported again gives the same runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from feature_store.errors import InvalidRun
from feature_store.runs.files import parse_csv_text, parse_json_text, parse_jsonl_text, read_runs, runs_to_csv
from feature_store.runs.store import RunStore

ROW = dict(dataset="lab", model="m", target_task="xnli", target_language="sw", source_task="mnli",
           source_language="eng", score="71.5", metric="accuracy", baseline_score="70", seed="1")
HEADER = ",".join(ROW)
LINE = ",".join(ROW.values())


def as_jsonl(*records: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# -- 3. columns ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "message"), [
    (HEADER.replace("seed", "Seed"), "row 1, column 'Seed': unknown column; did you mean 'seed'?"),
    (HEADER.replace("seed", "sede"), "row 1, column 'sede': unknown column; the run columns are"),
    (HEADER.replace("seed", "score"), "row 1, column 'score': duplicate column"),
])
def test_csv_columns_must_be_run_columns(header: str, message: str) -> None:
    with pytest.raises(InvalidRun, match=message):
        parse_csv_text(f"{header}\n{LINE}\n{LINE.replace(',sw,', ',yo,')}\n")


@pytest.mark.parametrize("parse", [parse_jsonl_text, lambda text: parse_json_text(
    "[" + ",".join(text.splitlines()) + "]")])
@pytest.mark.parametrize(("record", "message"), [
    (json.dumps({**ROW, "Seed": 2}), "row 1, column 'Seed': unknown column; did you mean 'seed'?"),
    (json.dumps({**ROW, "note": "x"}), "row 1, column 'note': unknown column"),
    (json.dumps(ROW)[:-1] + ', "score": 80}', "column 'score': duplicate column"),
])
def test_json_fields_follow_the_same_rules(parse: object, record: str, message: str) -> None:
    with pytest.raises(InvalidRun, match=message):
        parse(record + "\n")  # type: ignore[operator]


def test_the_published_matrices_provenance_columns_are_accepted() -> None:
    text = f"{HEADER},target_language_orig,source_language_orig,same_language\n{LINE},sw,en,0\n"
    assert len(parse_csv_text(text)) == 1


# -- 5. round trips -----------------------------------------------------------------------------
def test_negative_zero_is_zero(home: Path) -> None:
    store = RunStore()
    store.insert(parse_csv_text(f"{HEADER},source_size\n{LINE},-0.0\n"))
    result = store.insert(parse_csv_text(f"{HEADER},source_size\n{LINE},0\n"))
    assert (result.inserted, result.duplicates) == (0, 1)
    assert store.query()[0].source_size == 0.0


def test_quoted_line_breaks_are_kept_identically_on_every_path(tmp_path: Path) -> None:
    text = f'{HEADER}\r\n"lab\r\nB",m,xnli,sw,mnli,eng,71.5,"acc\ruracy",70,1\r\n'
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    from_file = read_runs(path)  # the CLI reads a file
    from_body = parse_csv_text(path.read_bytes().decode("utf-8-sig"))  # the API decodes a body
    assert [r.dataset for r in from_file] == [r.dataset for r in from_body] == ["lab\r\nB"]
    assert from_file[0].metric == "acc\ruracy"


@pytest.mark.parametrize("dataset", ["  lab  ", "lab\t", " lab"])
def test_spaces_around_a_dataset_are_trimmed_on_every_path(home: Path, dataset: str) -> None:
    record = {**ROW, "dataset": dataset}
    runs = [parse_csv_text(f'{HEADER}\n"{dataset}",{LINE.split(",", 1)[1]}\n'),
            parse_jsonl_text(as_jsonl(record)), parse_json_text(json.dumps([record]))]
    assert {r[0].dataset for r in runs} == {"lab"}
    store = RunStore()
    store.insert(runs[0])
    assert store.count(dataset=dataset) == 1


def test_export_then_import_is_an_identity(tmp_path: Path, home: Path) -> None:
    tricky = [
        {**ROW},
        {**ROW, "dataset": 'a,"b"\r\nc', "target_language": "yo", "seed": ""},
        {**ROW, "dataset": "x\ry", "model": "0012", "target_language": "de", "baseline_score": ""},
        {**ROW, "target_language": "hi", "score": "0.1e2", "seed": "-9223372036854775808"},
        {**ROW, "dataset": "ünï", "target_language": "fr", "source_size": "1e3", "metric": "naïve ünïcode"},
        {**ROW, "target_language": "ar", "source_language": "mul",
         "target_task": "ＸＮＬＩ"},
    ]
    store = RunStore()
    store.insert(parse_jsonl_text(as_jsonl(*tricky)))
    buf = io.StringIO()
    assert runs_to_csv(store.iter(), buf) == len(tricky)
    out = tmp_path / "out.csv"
    out.write_bytes(buf.getvalue().encode())
    again = read_runs(out)
    assert list(again) == store.query()
    other = RunStore(tmp_path / "other.sqlite")
    other.insert(again)
    assert other.fingerprint() == store.fingerprint()
    buf2 = io.StringIO()
    runs_to_csv(other.iter(), buf2)
    assert buf2.getvalue() == buf.getvalue()


# -- 10. hostile values -------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"score": "9" * 5000}, r"column 'score': not a number \(longer than 64 characters\)"),
    ({"seed": "9223372036854775808"}, "column 'seed': out of range: expected a 64-bit integer"),
    ({"seed": "-9223372036854775809"}, "column 'seed': out of range"),
    ({"seed": "1e300"}, "column 'seed': out of range"),
    ({"dataset": "x" * 300}, "column 'dataset': longer than 256 characters"),
])
def test_hostile_csv_values_are_invalid_runs(home: Path, change: dict[str, str], message: str) -> None:
    record = {**ROW, **change}
    text = ",".join(record) + "\n" + ",".join(record.values()) + "\n"
    with pytest.raises(InvalidRun, match=message):
        RunStore().insert(parse_csv_text(text))


@pytest.mark.parametrize(("line", "message"), [
    ('"seed": ' + "9" * 5000, r"row 1: invalid JSON \(ValueError\)"),
    ('"score": ' + "9" * 4000, "column 'score': not a finite number"),
    ('"seed": 9223372036854775808', "column 'seed': out of range: expected a 64-bit integer"),
    ('"seed": 1.5', "column 'seed': not an integer"),
    ('"dataset": "\\udcff"', "column 'dataset': invalid character U\\+DCFF"),
    ('"model": "a\\u0000b"', "column 'model': invalid character U\\+0000"),
    ('"score": true', "column 'score': not a number"),
    ('"baseline_score": false', "column 'baseline_score': not a number"),
    ('"seed": true', "column 'seed': not a number"),
    ('"dataset": true', "column 'dataset': not a string"),
    ('"dataset": ' + "[" * 100_000 + "]" * 100_000, r"invalid JSON \(RecursionError\)"),
])
def test_hostile_json_values_are_invalid_runs(home: Path, line: str, message: str) -> None:
    base = json.dumps({k: v for k, v in ROW.items() if f'"{k}"' not in line})[:-1]
    with pytest.raises(InvalidRun, match=message):
        RunStore().insert(parse_jsonl_text(base + ", " + line + "}\n"))


def test_cr_only_line_ends_are_read() -> None:
    text = f"{HEADER}\r{LINE}\r{LINE.replace(',sw,', ',yo,')}\r"
    assert [r.target_language for r in parse_csv_text(text)] == ["swa", "yor"]


def test_a_csv_field_over_128_kb_is_an_invalid_run() -> None:
    text = f'{HEADER}\n{LINE}\n"{"x" * 140_000}",{LINE.split(",", 1)[1]}\n'
    with pytest.raises(InvalidRun, match=r"row 3: unreadable CSV \(field larger than field limit"):
        parse_csv_text(text)


def test_more_values_than_columns_is_an_invalid_run() -> None:
    with pytest.raises(InvalidRun, match="row 2: 11 values for 10 columns"):
        parse_csv_text(f"{HEADER}\n{LINE},extra\n")


# -- 13. languages and task ids -----------------------------------------------------------------
@pytest.mark.parametrize("code", ["zxx", "mis", "und", "qaa", "qtz", "mul"])
def test_codes_that_are_not_languages_are_not_targets(code: str) -> None:
    with pytest.raises(InvalidRun, match=f"column 'target_language': not a language: .*value '{code}'"):
        parse_jsonl_text(as_jsonl({**ROW, "target_language": code}))


def test_mul_is_a_source_language() -> None:
    assert parse_jsonl_text(as_jsonl({**ROW, "source_language": "mul"}))[0].source_language == "mul"


def test_a_dropped_script_subtag_is_reported(home: Path) -> None:
    runs = parse_jsonl_text(as_jsonl({**ROW, "target_language": "sw-Arab"}, {**ROW, "target_language": "yo"}))
    assert runs[0].target_language == "swa"
    result = RunStore().insert(runs)
    assert result.warnings == ("'sw-Arab': script Arab is not kept; runs and features are per language (swa)",)
    assert parse_jsonl_text(as_jsonl({**ROW, "target_language": "zh-Hans"})).warnings == ()


def test_task_ids_are_nfkc_normalised_and_unreachable_ones_refused(home: Path) -> None:
    runs = parse_jsonl_text(as_jsonl({**ROW, "target_task": "ＸＮＬＩ", "source_task": "MNLI\u3000"}))
    assert (runs[0].target_task, runs[0].source_task) == ("xnli", "mnli")
    store = RunStore()
    store.insert(runs)
    assert store.count(target_task="ｘｎｌｉ") == 1
    for bad in ("xn\u200bli", "xnli\x07", "x\tnli", "\ue000"):
        with pytest.raises(InvalidRun, match="column 'target_task': invalid character U\\+"):
            parse_jsonl_text(as_jsonl({**ROW, "target_task": bad}))
