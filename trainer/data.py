"""Data files on disk -> canonical examples, with errors that name the file, line and field.

Where a split's file is looked for, in order (``<t>`` = the task's folder, its id or an alias;
``<c>`` = the language as ISO 639-3, then ISO 639-1; ``<s>`` = train / dev / test):

- canonical: ``<t>/<s>-<c>.jsonl``, one JSON object per line (fields by format, docs/trainer.md);
- SQuAD JSON: ``<t>/<s>-<c>.json``; for squad also ``train-v1.1.json`` / ``dev-v1.1.json``
  (``-v2.0`` for squad_v2) as rajpurkar/SQuAD-explorer ships them;
- TSV / CoNLL: ``<t>/<s>-<c>.tsv`` (XTREME's XNLI, PAWS-X: ``text_a<TAB>text_b<TAB>label``;
  XTREME's UD-POS, PAN-X: ``token<TAB>tag`` lines, a blank line between sentences),
  ``<t>/<s>-<c>.conll`` (token first column, tag last), ``<t>/<s>-<c>.conllu`` (FORM, UPOS);
- the XTREME download layout (google-research/xtreme ``scripts/download_data.sh``):
  ``xquad/xquad.<c>.json``, ``mlqa/MLQA_V1/<s>/<s>-context-<c>-question-<c>.json``,
  ``tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.<c>.train.json``,
  ``tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.<c>.dev.json`` (TyDiQA-GoldP's dev is its test),
  and for retrieval the LASER Tatoeba files ``tatoeba/tatoeba.<c>-eng.{<c>,eng}`` (line-aligned)
  and BUCC 2018 ``bucc2018/<c>-en.<s>.{<c>,en,gold}`` (read by ``trainer/retrieval.py``).

XQuAD and MLQA have no training split of their own: their English training data is SQuAD v1.1,
looked for under ``squad/`` when ``xquad/train-eng.*`` is not there.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import langcodes

from feature_store.errors import InvalidData
from feature_store.languages import resolve as resolve_language
from trainer.tasks import folder_names, known_task


@dataclass
class Split:
    """One data file read into canonical examples (dicts, fields by format)."""

    path: Path
    examples: list[dict[str, Any]]
    lines: list[int | None] = field(default_factory=list)  # source line of each example

    def error(self, index: int, field_name: str | None, reason: str) -> InvalidData:
        line = self.lines[index] if index < len(self.lines) else None
        return InvalidData(reason, path=str(self.path), line=line, field=field_name)

    def __len__(self) -> int:
        return len(self.examples)


def language_codes(language: str) -> list[str]:
    """File-name spellings of a language: ISO 639-3 first, then ISO 639-1 where there is one."""
    code = resolve_language(language)
    codes = [code]
    short = langcodes.standardize_tag(code)
    if short != code:
        codes.append(short)
    return codes


def _candidates(data_dir: Path, task: str, split: str, language: str) -> list[Path]:
    spec = known_task(task)
    task_id = spec.id if spec else task.lower()
    codes = language_codes(language)
    out: list[Path] = []
    for folder in folder_names(task):
        base = data_dir / folder
        for c in codes:
            out += [base / f"{split}-{c}.{ext}" for ext in ("jsonl", "json", "tsv", "conll", "conllu")]
        if task_id in ("squad", "squad_v2") and codes[0] == "eng":
            version = "v1.1" if task_id == "squad" else "v2.0"
            out.append(base / f"{'train' if split == 'train' else 'dev'}-{version}.json")
        for c in codes:
            if task_id == "xquad" and split != "train":
                out.append(base / f"xquad.{c}.json")
            if task_id == "mlqa" and split != "train":
                out.append(base / "MLQA_V1" / split / f"{split}-context-{c}-question-{c}.json")
            if task_id == "tydiqa":
                sub = "train" if split == "train" else "dev"
                out.append(base / f"tydiqa-goldp-v1.1-{sub}" / f"tydiqa.goldp.{c}.{sub}.json")
    if task_id in ("xquad", "mlqa") and split == "train":
        out += _candidates(data_dir, "squad", split, language)  # XTREME trains both on SQuAD v1.1
    return out


def find_file(data_dir: Path, task: str, split: str, language: str) -> Path | None:
    """The first existing file for (task, split, language), or None."""
    return next((p for p in _candidates(data_dir, task, split, language) if p.is_file()), None)


def require_file(data_dir: Path, task: str, splits: tuple[str, ...], language: str) -> Path:
    """The file of the first split in ``splits`` that exists; InvalidData naming where it looked."""
    for split in splits:
        path = find_file(data_dir, task, split, language)
        if path is not None:
            return path
    tried = _candidates(data_dir, task, splits[0], language)[0]
    raise InvalidData(
        f"no {'/'.join(splits)} data for task {task!r} in language {language!r} "
        f"(expected e.g. {tried.relative_to(data_dir)})",
        path=str(data_dir),
    )


def read_split(path: Path, fmt: str | None) -> Split:
    """Read one file by its extension; ``fmt`` None infers it (canonical JSONL only)."""
    if not path.is_file():
        raise InvalidData("file not found", path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        split = read_jsonl(path)
    elif suffix == ".json":
        split = _read_squad(path)
    elif suffix in (".conll", ".conllu") or (suffix == ".tsv" and fmt == "tagging"):
        split = _read_conll(path, conllu=suffix == ".conllu")
    elif suffix == ".tsv" and fmt in ("pair", "classification"):
        split = _read_tsv(path, fmt)
    else:
        raise InvalidData(f"cannot read a {suffix or 'extensionless'} file as {fmt or 'unknown'} data", path=str(path))
    if not split.examples:
        raise InvalidData("no examples in file", path=str(path))
    if fmt is not None:
        validate(split, fmt)
    return split


def read_jsonl(path: Path) -> Split:
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
            examples.append(record)
            lines.append(n)
    return Split(path, examples, lines)


def _read_squad(path: Path) -> Split:
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
                        }
                    )
    except (KeyError, TypeError) as exc:
        missing = f".{exc.args[0]}" if isinstance(exc, KeyError) else ""
        raise InvalidData("missing or malformed SQuAD field", path=str(path), field=where + missing) from None
    return Split(path, examples, [None] * len(examples))


def _read_tsv(path: Path, fmt: str) -> Split:
    names = ("text_a", "text_b", "label") if fmt == "pair" else ("text", "label")
    examples: list[dict[str, Any]] = []
    lines: list[int | None] = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(names):
                raise InvalidData(
                    f"expected {len(names)} tab-separated columns, found {len(row)}",
                    path=str(path),
                    line=reader.line_num,
                    field=names[len(row)],
                )
            examples.append(dict(zip(names, row, strict=False)))
            lines.append(reader.line_num)
    return Split(path, examples, lines)


def _read_conll(path: Path, *, conllu: bool) -> Split:
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
    return Split(path, examples, lines)


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def validate(split: Split, fmt: str) -> None:
    """Check every example has its format's fields with the right types (labels come later)."""
    string_fields = {
        "classification": ("text",),
        "pair": ("text_a", "text_b"),
        "qa": ("context", "question"),
        "mc": ("question",),
        "tagging": (),
        "retrieval": (),
    }
    n_choices = None
    for i, ex in enumerate(split.examples):
        for name in string_fields[fmt]:
            if not isinstance(ex.get(name), str):
                raise split.error(i, name, "missing" if name not in ex else "must be a string")
        if fmt in ("classification", "pair", "mc"):
            label = ex.get("label")
            if label is None or isinstance(label, bool) or not isinstance(label, str | int):
                raise split.error(i, "label", "missing" if "label" not in ex else "must be a string or int")
        if fmt == "qa":
            answers = ex.get("answers")
            if (
                not isinstance(answers, dict)
                or not _is_str_list(answers.get("text"))
                or not isinstance(answers.get("answer_start"), list)
                or len(answers["text"]) != len(answers["answer_start"])
            ):
                raise split.error(i, "answers", "must be {text: [...], answer_start: [...]} of equal length")
            for s in answers["answer_start"]:
                if not isinstance(s, int) or not 0 <= s <= len(ex["context"]):
                    raise split.error(i, "answers", f"answer_start {s!r} is outside the context")
            ex.setdefault("id", f"{split.path.stem}-{i}")
        if fmt == "mc":
            choices: list[str] = ex.get("choices")  # type: ignore[assignment]
            if not _is_str_list(choices) or len(choices) < 2:
                raise split.error(i, "choices", "must be a list of at least two strings")
            if n_choices is not None and len(choices) != n_choices:
                raise split.error(i, "choices", f"has {len(choices)} choices, earlier examples {n_choices}")
            n_choices = len(choices)
            if not isinstance(ex.get("context", ""), str):
                raise split.error(i, "context", "must be a string")
        if fmt == "tagging":
            if not _is_str_list(ex.get("tokens")):
                raise split.error(i, "tokens", "must be a list of strings")
            if not _is_str_list(ex.get("tags")) or len(ex["tags"]) != len(ex["tokens"]):
                raise split.error(i, "tags", "must be a list of strings, one per token")
        if fmt == "retrieval":
            src, tgt = ex.get("source"), ex.get("target")
            if src is None and tgt is None:
                raise split.error(i, "source", "a line needs a source or a target sentence")
            for name, value in (("source", src), ("target", tgt)):
                if value is not None and not isinstance(value, str):
                    raise split.error(i, name, "must be a string or null")


def infer_labels(split: Split, fmt: str) -> tuple[str, ...]:
    """The label set of a training split, sorted (numerically when every label is a number)."""
    if fmt == "tagging":
        values = {t for ex in split.examples for t in ex["tags"]}
    else:
        values = {str(ex["label"]) for ex in split.examples}
    if all(v.lstrip("-").isdigit() for v in values):
        return tuple(sorted(values, key=int))
    return tuple(sorted(values))


def encode_labels(split: Split, fmt: str, labels: tuple[str, ...] | None) -> None:
    """Replace labels / tags by their index, in place; an unknown one names its line and field."""
    index = {name: i for i, name in enumerate(labels or ())}
    digits = bool(labels) and all(name.isdigit() for name in labels or ())
    for i, ex in enumerate(split.examples):
        if fmt == "tagging":
            try:
                ex["tags"] = [index[t] for t in ex["tags"]]
            except KeyError as exc:
                raise split.error(i, "tags", f"unknown tag {exc.args[0]!r}; known: {', '.join(index)}") from None
        elif fmt == "mc":
            value = ex["label"]
            choice = int(value) if isinstance(value, int) or value.strip().isdigit() else -1
            if not 0 <= choice < len(ex["choices"]):
                raise split.error(i, "label", f"{value!r} is not the index of a choice")
            ex["label"] = choice
        elif fmt in ("classification", "pair"):
            value = ex["label"]
            text = str(value).strip()
            if text in index:
                ex["label"] = index[text]
            elif not digits and text.isdigit() and int(text) < len(index):
                ex["label"] = int(text)  # an index into the label list (e.g. XNLI 0/1/2)
            else:
                raise split.error(i, "label", f"unknown label {value!r}; known: {', '.join(index)}")


def subsample(split: Split, n: int | None, seed: int) -> Split:
    """At most ``n`` examples drawn with a fixed seed, file order kept; the split itself if fewer."""
    if n is None or n >= len(split):
        return split
    keep = sorted(random.Random(seed).sample(range(len(split)), n))
    return Split(split.path, [split.examples[i] for i in keep], [split.lines[i] for i in keep])


def head(split: Split, n: int | None) -> Split:
    """The first ``n`` examples (evaluation caps take a prefix, so they are comparable)."""
    if n is None or n >= len(split):
        return split
    return Split(split.path, split.examples[:n], split.lines[:n])
