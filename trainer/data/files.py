"""Data files on disk -> canonical examples, with errors that name the file, line and field.

Where a split's file is looked for, in order (``<t>`` = the task's folder, its id or an alias;
``<c>`` = the language as ISO 639-3, then ISO 639-1; ``<s>`` = train / dev / test):

- canonical: ``<t>/<s>-<c>.jsonl``, one JSON object per line (fields by format, docs/trainer.md),
  or the published layouts of ``trainer/data/readers.py`` under the same names (``.json`` SQuAD,
  ``.tsv``, ``.csv``, ``.conll``, ``.conllu``, ``.txt`` CoNLL), or a ``save_to_disk`` folder
  ``<t>/<s>-<c>/`` (or ``<t>/`` holding a DatasetDict, English);
- the layouts of the original releases (``PUBLISHED`` below: Universal Dependencies treebank
  folders, CoNLL-2003, MasakhaNER 2.0, SIB-200, GLUE, CosmosQA, HellaSwag, CommonsenseQA);
- the XTREME download layout (google-research/xtreme ``scripts/download_data.sh``):
  ``xquad/xquad.<c>.json``, ``mlqa/MLQA_V1/<s>/<s>-context-<c>-question-<c>.json``,
  ``tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.<c>.train.json``,
  ``tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.<c>.dev.json`` (TyDiQA-GoldP's dev is its test),
  and for retrieval the LASER Tatoeba files and BUCC 2018 (read by ``trainer/data/retrieval.py``).

Some targets train on another task's English data when they have none of their own (XTREME's
XQuAD and MLQA: SQuAD v1.1; MasakhaNER: CoNLL-2003), see ``TRAIN_FROM``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import langcodes

from feature_store.errors import InvalidData
from feature_store.languages import resolve as resolve_language
from trainer.data import readers
from trainer.data.tasks import folder_names, known_task

# A target without English training data of its own trains on this task's, and checks that training
# on the same task's English dev split (MasakhaNER has no English dev: CoNLL-2003's, as its training).
TRAIN_FROM = {"xquad": "squad", "mlqa": "squad", "masakhaner": "conll2003"}


def _borrows(task_id: str, split: str, codes: list[str]) -> bool:
    return task_id in TRAIN_FROM and (split == "train" or (split == "dev" and codes[0] == "eng"))
SPLIT_NAMES = {
    "train": ("train", "train_full", "in_domain_train"),
    "dev": ("dev", "valid", "validation", "val", "in_domain_dev", "dev_matched"),
    "test": ("test",),
}
# Original release layouts, relative to the data folder: {c} a language code, {s} a split name.
# Patterns without {c} are English-only. UD: every treebank of a language is read (as XTREME does).
PUBLISHED = {
    "udpos": ("udpos/UD_*/{c}_*-ud-{s}.conllu", "UD_*/{c}_*-ud-{s}.conllu", "ud-treebanks-*/UD_*/{c}_*-ud-{s}.conllu"),
    "conll2003": ("ner/conll2003_en/{s}.txt", "conll2003/{s}.txt", "conll2003_en/{s}.txt"),
    "masakhaner": ("ner/masakhaner2/{c}/{s}.txt", "masakhaner2/{c}/{s}.txt", "MasakhaNER2.0/data/{c}/{s}.txt"),
    "sib200": ("multilingual/sib200/{c}_*/{s}.tsv", "sib200/{c}_*/{s}.tsv", "sib-200/data/annotated/{c}_*/{s}.tsv"),
    "cola": ("intermediate/cola/{s}.tsv", "CoLA/{s}.tsv"),
    "sst2": ("intermediate/sst2/{s}.tsv", "SST-2/{s}.tsv"),
    "rte": ("intermediate/rte/{s}.tsv", "RTE/{s}.tsv"),
    "mrpc": ("intermediate/mrpc/{s}.tsv", "MRPC/{s}.tsv"),
    "qnli": ("intermediate/qnli/{s}.tsv", "QNLI/{s}.tsv"),
    "mnli": ("intermediate/mnli/{s}.tsv", "MNLI/{s}.tsv"),
    "qqp": ("intermediate/qqp/{s}.tsv", "QQP/{s}.tsv"),
    "cosmosqa": ("intermediate/cosmosqa/{s}.csv", "cosmosqa/{s}.csv", "cosmosqa/{s}.jsonl"),
    "hellaswag": ("intermediate/hellaswag/hellaswag_{s}.jsonl", "hellaswag/hellaswag_{s}.jsonl"),
    "commonsenseqa": ("intermediate/commonsenseqa/{s}_rand_split.jsonl", "commonsenseqa/{s}_rand_split.jsonl"),
}
# File names that use an individual language where the ISO 639-3 code is a macrolanguage.
_INDIVIDUAL = {"swa": "swh", "ara": "arb", "fas": "pes", "msa": "zsm", "est": "ekk", "lav": "lvs", "uzb": "uzn"}
# ISO 639-1 codes that langcodes would replace by another language (it maps tgl to fil).
_ISO1 = {"tgl": "tl"}


@dataclass
class Split:
    """One data file read into canonical examples (dicts, fields by format)."""

    path: Path
    examples: list[dict[str, Any]]
    lines: list[int | None] = field(default_factory=list)  # source line of each example
    paths: list[Path] = field(default_factory=list)  # source file of each example, when several

    def error(self, index: int, field_name: str | None, reason: str) -> InvalidData:
        line = self.lines[index] if index < len(self.lines) else None
        path = self.paths[index] if index < len(self.paths) else self.path
        return InvalidData(reason, path=str(path), line=line, field=field_name)

    def take(self, keep: list[int]) -> Split:
        paths = [self.paths[i] for i in keep] if self.paths else []
        return Split(self.path, [self.examples[i] for i in keep], [self.lines[i] for i in keep], paths)

    def __len__(self) -> int:
        return len(self.examples)


def language_codes(language: str) -> list[str]:
    """File-name spellings of a language: ISO 639-3 first, then ISO 639-1 where there is one."""
    code = resolve_language(language)
    codes = [code]
    if code in _INDIVIDUAL:
        codes.append(_INDIVIDUAL[code])
    short = iso1(code)
    if short != code:
        codes.append(short)
    return codes


def iso1(language: str) -> str:
    """The ISO 639-1 code of a language where it has one (XTREME's and MLQA's file names), else ISO 639-3."""
    code = resolve_language(language)
    return _ISO1.get(code) or langcodes.standardize_tag(code)


def _candidates(data_dir: Path, task: str, split: str, language: str) -> list[Path]:
    spec = known_task(task)
    task_id = spec.id if spec else task.lower()
    codes = language_codes(language)
    out: list[Path] = []
    for folder in folder_names(task):
        base = data_dir / folder
        for c in codes:
            out += [base / f"{split}-{c}.{ext}" for ext in ("jsonl", "json", "tsv", "csv", "conll", "conllu", "txt")]
            out.append(base / f"{split}-{c}")  # a save_to_disk folder
        if codes[0] == "eng":
            out.append(base)  # a saved DatasetDict
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
    if _borrows(task_id, split, codes):
        out += _candidates(data_dir, TRAIN_FROM[task_id], split, language)
    return out


def _published(data_dir: Path, task: str, split: str, language: str) -> list[Path]:
    spec = known_task(task)
    patterns = PUBLISHED.get(spec.id if spec else task.lower(), ())
    codes = language_codes(language)
    for pattern in patterns:
        for name in SPLIT_NAMES.get(split, (split,)):
            if "{c}" not in pattern:
                found = sorted(data_dir.glob(pattern.format(s=name))) if codes[0] == "eng" else []
            else:
                found = next((f for c in codes if (f := sorted(data_dir.glob(pattern.format(c=c, s=name))))), [])
            if found:
                return found if pattern.startswith(("udpos", "UD_", "ud-")) else found[:1]
    return []


def _exists(path: Path) -> bool:
    saved = ("dataset_info.json", "dataset_dict.json")  # what save_to_disk writes
    return path.is_file() or (path.is_dir() and any((path / n).is_file() for n in saved))


def find_files(data_dir: Path, task: str, split: str, language: str) -> list[Path]:
    """The files of (task, split, language): the first layout that has any, or []."""
    first = next((p for p in _candidates(data_dir, task, split, language) if _exists(p)), None)
    if first is not None:
        return [first]
    found = _published(data_dir, task, split, language)
    spec = known_task(task)
    if not found and spec is not None and _borrows(spec.id, split, language_codes(language)):
        found = _published(data_dir, TRAIN_FROM[spec.id], split, language)
    return found


def find_file(data_dir: Path, task: str, split: str, language: str) -> Path | None:
    """The first file for (task, split, language), or None."""
    files = find_files(data_dir, task, split, language)
    return files[0] if files else None


def require_files(data_dir: Path, task: str, splits: tuple[str, ...], language: str) -> tuple[str, list[Path]]:
    """The split and files of the first split in ``splits`` that exists; InvalidData naming where it looked."""
    for split in splits:
        paths = find_files(data_dir, task, split, language)
        if paths:
            return split, paths
    tried = _candidates(data_dir, task, splits[0], language)[0]
    raise InvalidData(
        f"no {'/'.join(splits)} data for task {task!r} in language {language!r} "
        f"(expected e.g. {tried.relative_to(data_dir)})",
        path=str(data_dir),
    )


def read_split(path: Path, fmt: str | None, split_name: str = "test") -> Split:
    """Read one file (by its extension) or saved dataset folder; ``fmt`` None infers nothing."""
    if not path.exists():
        raise InvalidData("file not found", path=str(path))
    suffix = path.suffix.lower()
    if path.is_dir():
        examples, lines = readers.read_saved_dataset(path, split_name, fmt)
    elif suffix == ".jsonl":
        examples, lines = readers.read_jsonl(path, fmt)
    elif suffix == ".json":
        examples, lines = readers.read_squad(path)
    elif suffix in (".conll", ".conllu") or (suffix in (".tsv", ".txt") and fmt == "tagging"):
        examples, lines = readers.read_conll(path, conllu=suffix == ".conllu")
    elif suffix in (".tsv", ".csv") and fmt in ("pair", "classification", "mc"):
        examples, lines = readers.read_table(path, fmt, "\t" if suffix == ".tsv" else ",")
        if fmt == "mc":
            examples = [readers.canonical(e, fmt) for e in examples]
    else:
        raise InvalidData(f"cannot read a {suffix or 'extensionless'} file as {fmt or 'unknown'} data", path=str(path))
    split = Split(path, examples, lines)
    if not split.examples:
        raise InvalidData("no examples in file", path=str(path))
    if fmt is not None:
        validate(split, fmt)
    return split


def read_files(paths: list[Path], fmt: str | None, split_name: str = "test") -> Split:
    """Several files of one split (e.g. every UD treebank of a language) as one Split."""
    parts = [read_split(p, fmt, split_name) for p in paths]
    if len(parts) == 1:
        return parts[0]
    return Split(
        paths[0],
        [e for p in parts for e in p.examples],
        [n for p in parts for n in p.lines],
        [p.path for p in parts for _ in p.examples],
    )


def read_jsonl(path: Path) -> Split:
    examples, lines = readers.read_jsonl(path)
    return Split(path, examples, lines)


def refuse_blank_answers(split: Split) -> None:
    """XTREME's utils_preprocess.py blanks the gold answers of XQuAD, MLQA test and TyDiQA dev
    (``{"answer_start": 0, "text": ""}``); scored against them every prediction would count 0."""
    for i, ex in enumerate(split.examples):
        if any(not t.strip() for t in ex["answers"]["text"]):
            raise InvalidData(
                "blank gold answer: this looks like a file whose answers XTREME's preprocessing stripped; "
                "evaluate on the original release (XQuAD: deepmind/xquad, MLQA: facebookresearch/MLQA, "
                "TyDiQA-GoldP: google-research-datasets/tydiqa), see docs/trainer.md",
                path=str(split.path),
                line=split.lines[i],
                field=ex.get("where", "answers"),
            )


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


def encode_labels(split: Split, fmt: str, labels: tuple[str, ...] | None, *, other_tags_to_o: bool = False) -> None:
    """Replace labels / tags by their index, in place; an unknown one names its line and field.

    ``other_tags_to_o``: entity tags of a type outside the label set become ``O`` (MasakhaNER
    scored after CoNLL-2003 training: only the shared PER, ORG, LOC are kept, as its paper does).
    """
    index = {name: i for i, name in enumerate(labels or ())}
    digits = bool(labels) and all(name.isdigit() for name in labels or ())
    for i, ex in enumerate(split.examples):
        if fmt == "tagging":
            if other_tags_to_o:
                ex["tags"] = [t if t in index else "O" for t in ex["tags"]]
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
    return split.take(sorted(random.Random(seed).sample(range(len(split)), n)))


EVAL_DRAW_SEED = 0  # one draw for every cell and seed, so capped scores stay comparable


def eval_cap(split: Split, n: int | None, how: str = "sample") -> Split:
    """At most ``n`` examples of an evaluation or dev split, file order kept.

    ``sample`` draws the positions with a fixed seed that depends only on ``n`` and the split's
    length: parallel test sets (SIB-200, XNLI, ...) then keep the same sentences in every language,
    and a file sorted by label (SIB-200's test files are) keeps every label. ``head`` takes the
    first ``n``, which on such a file keeps only the first labels.
    """
    if n is None or n >= len(split):
        return split
    if how == "head":
        return split.take(list(range(n)))
    rng = random.Random(f"{EVAL_DRAW_SEED}:{n}:{len(split)}")
    return split.take(sorted(rng.sample(range(len(split)), n)))
