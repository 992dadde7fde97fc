"""File readers: one data file (or a saved HF dataset) -> canonical examples, fields by format.

Canonical JSONL is read as is; the published layouts below are mapped onto it by field name:

- GLUE TSVs with their header (MNLI ``sentence1``/``sentence2``/``gold_label``, QQP ``question1``/
  ``question2``/``is_duplicate``, MRPC ``#1 String``/``#2 String``/``Quality``, RTE and QNLI,
  SST-2 ``sentence``/``label``, the Hugging Face TSV exports); CoLA's raw files have no header
  (source, label, author's mark, sentence); XTREME's XNLI / PAWS-X TSVs are ``text_a, text_b, label``.
- SIB-200 TSVs (``index_id``, ``category``, ``text``).
- HellaSwag JSONL (``ctx_a``, ``ctx_b``, ``endings``, ``label``), CosmosQA CSV or JSONL
  (``context``, ``question``, ``answer0..3``, ``label``), CommonsenseQA JSONL (``question.stem``,
  ``question.choices``, ``answerKey``; the HF layout with ``choices.text`` too).
- CoNLL (token first, tag last, space or tab separated: CoNLL-2003, MasakhaNER, XTREME's tsv),
  CoNLL-U (FORM, UPOS; comments, multi-word ranges and empty nodes skipped).
- SQuAD JSON (v1.1 / v2.0, XQuAD, MLQA, TyDiQA-GoldP).
- Folders written by ``datasets.save_to_disk`` (read with ``datasets.load_from_disk``, offline;
  class-label ids become their names).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Literal

from feature_store.errors import InvalidData

TEXT_A = ("text_a", "premise", "sentence1", "question1", "#1 String", "question")
TEXT_B = ("text_b", "hypothesis", "sentence2", "question2", "#2 String", "sentence")
LABEL = ("label", "gold_label", "is_duplicate", "Quality", "category")
TEXT = ("text", "sentence")
TAGS = ("tags", "upos", "pos_tags", "ner_tags")
_TEXT_NAMES = {n.lower() for n in (*TEXT_A, *TEXT_B, *TEXT)}
_LABEL_NAMES = {n.lower() for n in LABEL}


def is_header(row: list[str]) -> bool:
    """A first row that names a text column and a label column (GLUE, SIB-200, HF exports)."""
    cells = {c.strip().lower() for c in row}
    return bool(cells & _TEXT_NAMES) and bool(cells & _LABEL_NAMES)


def _first(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((record[n] for n in names if n in record), None)


def canonical(record: dict[str, Any], fmt: str | None) -> dict[str, Any]:
    """A record in a published layout -> the canonical fields of ``fmt`` (others kept as they are)."""
    if fmt == "pair" and not {"text_a", "text_b"} <= set(record):
        a, b = _first(record, TEXT_A), _first(record, TEXT_B)
        if a is not None and b is not None:
            return {"text_a": a, "text_b": b, "label": _first(record, LABEL)}
    if fmt == "classification" and "text" not in record and _first(record, TEXT) is not None:
        return {"text": _first(record, TEXT), "label": _first(record, LABEL)}
    if fmt == "classification" and "category" in record and "label" not in record:
        return {**record, "label": record["category"]}
    if fmt == "mc" and "choices" not in record:
        if "endings" in record:  # HellaSwag
            return {
                "context": record.get("ctx_a", ""),
                "question": record.get("ctx_b", ""),
                "choices": record["endings"],
                "label": _int(record.get("label")),
            }
        if "answer0" in record:  # CosmosQA
            n = sum(1 for k in record if k.startswith("answer") and k[6:].isdigit())
            return {
                "context": record.get("context", ""),
                "question": record.get("question", ""),
                "choices": [record[f"answer{i}"] for i in range(n)],
                "label": _int(record.get("label")),
            }
        if isinstance(record.get("question"), dict):  # CommonsenseQA (original JSONL)
            choices = record["question"].get("choices", [])
            keys = [c.get("label") for c in choices]
            key = record.get("answerKey")
            return {
                "question": record["question"].get("stem"),
                "choices": [c.get("text") for c in choices],
                "label": keys.index(key) if key in keys else key,
            }
    if fmt == "mc" and isinstance(record.get("choices"), dict):  # CommonsenseQA (Hugging Face)
        keys = list(record["choices"].get("label", []))
        key = record.get("answerKey")
        return {
            "question": record.get("question"),
            "choices": list(record["choices"].get("text", [])),
            "label": keys.index(key) if key in keys else key,
        }
    if fmt == "tagging" and "tags" not in record and _first(record, TAGS) is not None:
        return {"tokens": record.get("tokens"), "tags": _first(record, TAGS)}
    return record


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def read_jsonl(path: Path, fmt: str | None = None) -> tuple[list[dict[str, Any]], list[int | None]]:
    examples: list[dict[str, Any]] = []
    lines: list[int | None] = []
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidData(f"not valid JSON ({exc.msg})", path=str(path), line=n) from None
            if not isinstance(record, dict):
                raise InvalidData("not a JSON object", path=str(path), line=n)
            examples.append(canonical(record, fmt))
            lines.append(n)
    return examples, lines


def read_squad(path: Path) -> tuple[list[dict[str, Any]], list[int | None]]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise InvalidData(f"not valid JSON ({exc.msg})", path=str(path), line=exc.lineno) from None
    examples: list[dict[str, Any]] = []
    where = "data"
    try:
        for i, article in enumerate(doc["data"]):
            for j, paragraph in enumerate(article["paragraphs"]):
                where = f"data[{i}].paragraphs[{j}]"
                context = paragraph["context"]
                for k, qa in enumerate(paragraph["qas"]):
                    where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                    answers = [] if qa.get("is_impossible") else qa["answers"]
                    examples.append(
                        {
                            "id": str(qa.get("id", f"{i}-{j}-{k}")),
                            "context": context,
                            "question": qa["question"],
                            "answers": {
                                "text": [a["text"] for a in answers],
                                "answer_start": [a["answer_start"] for a in answers],
                            },
                            "where": where,
                        }
                    )
    except (KeyError, TypeError) as exc:
        missing = f".{exc.args[0]}" if isinstance(exc, KeyError) else ""
        raise InvalidData("missing or malformed SQuAD field", path=str(path), field=where + missing) from None
    return examples, [None] * len(examples)


def _rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line, cells) of a TSV / CSV file. Quoted fields (Hugging Face exports, XTREME, SIB-200) are
    unquoted; GLUE's own TSVs are not quoted but hold stray quote characters: when strict CSV
    quoting fails on a TSV, or changes its column count, it is read without quoting, as GLUE's
    loaders read it."""

    def read(quoting: Literal[0, 3]) -> list[tuple[int, list[str]]]:  # QUOTE_MINIMAL, QUOTE_NONE
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, quoting=quoting, strict=quoting != csv.QUOTE_NONE)
            return [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]

    try:
        rows = read(csv.QUOTE_MINIMAL)
    except csv.Error:
        if delimiter != "\t":
            raise InvalidData("malformed CSV quoting", path=str(path)) from None
        return read(csv.QUOTE_NONE)
    if delimiter == "\t" and len({len(row) for _, row in rows}) > 1:
        plain = read(csv.QUOTE_NONE)
        if len({len(row) for _, row in plain}) == 1:
            return plain
    return rows


def read_table(path: Path, fmt: str, delimiter: str) -> tuple[list[dict[str, Any]], list[int | None]]:
    """TSV / CSV rows: by header when the first row names known columns, else by position."""
    names = ("text_a", "text_b", "label") if fmt == "pair" else ("text", "label")
    examples: list[dict[str, Any]] = []
    lines: list[int | None] = []
    header: list[str] | None = None
    for line, row in _rows(path, delimiter):
        if header is None and not examples and is_header(row):
            header = [c.strip() for c in row]
            continue
        if header is not None:
            record = canonical(dict(zip(header, row, strict=False)), fmt)
        elif fmt == "classification" and len(row) == 4:  # CoLA raw: source, label, mark, sentence
            record = {"text": row[3], "label": row[1]}
        else:
            if len(row) < len(names):
                raise InvalidData(
                    f"expected {len(names)} columns, found {len(row)}", path=str(path), line=line, field=names[len(row)]
                )
            record = dict(zip(names, row, strict=False))
        examples.append(record)
        lines.append(line)
    return examples, lines


def read_conll(path: Path, *, conllu: bool) -> tuple[list[dict[str, Any]], list[int | None]]:
    examples: list[dict[str, Any]] = []
    lines: list[int | None] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0

    def flush() -> None:
        if tokens:
            examples.append({"tokens": list(tokens), "tags": list(tags)})
            lines.append(start)
        tokens.clear()
        tags.clear()

    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            text = raw.rstrip("\n")
            if not text.strip():
                flush()
                continue
            if text.startswith("-DOCSTART-") or (conllu and text.startswith("#")):
                continue
            cols = text.split("\t") if "\t" in text else text.split()
            if conllu:
                if len(cols) != 10:
                    raise InvalidData(
                        f"expected 10 CoNLL-U columns, found {len(cols)}", path=str(path), line=n, field="UPOS"
                    )
                if "-" in cols[0] or "." in cols[0]:
                    continue  # multi-word token ranges and empty nodes carry no UPOS of their own
                token, tag = cols[1], cols[3]
            else:
                if len(cols) < 2:
                    raise InvalidData("expected a token and a tag", path=str(path), line=n, field="tag")
                token, tag = cols[0], cols[-1]
            if not tokens:
                start = n
            tokens.append(token)
            tags.append(tag)
    flush()
    return examples, lines


def read_saved_dataset(path: Path, split: str, fmt: str | None) -> tuple[list[dict[str, Any]], list[int | None]]:
    """A ``save_to_disk`` folder (a Dataset, or a DatasetDict of which ``split`` is taken)."""
    try:
        import datasets
    except ImportError:
        raise InvalidData(
            "reading a saved Hugging Face dataset needs `datasets` (the train extra)", path=str(path)
        ) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InvalidData(f"not a dataset saved with save_to_disk ({exc})", path=str(path)) from None
    if isinstance(loaded, datasets.DatasetDict):
        aliases = {"dev": ("validation", "dev", "valid", "val"), "train": ("train",), "test": ("test",)}
        name = next((n for n in aliases.get(split, (split,)) if n in loaded), None)
        if name is None:
            raise InvalidData(f"no {split} split among {', '.join(loaded)}", path=str(path))
        loaded = loaded[name]
    names = {}
    for column, feature in loaded.features.items():  # tag ids -> names; class labels stay indices
        inner = getattr(feature, "feature", feature)
        if isinstance(inner, datasets.ClassLabel) and inner is not feature:
            names[column] = inner.names
    examples = []
    for row in loaded:
        record = dict(row)
        for column, labels in names.items():
            value = record[column]
            record[column] = [labels[v] for v in value] if isinstance(value, list) else labels[value]
        examples.append(canonical(record, fmt))
    return examples, list(range(1, len(examples) + 1))
