"""Retrieval test sets (BUCC, Tatoeba): sentences on two sides and the gold pairs.

Read from canonical ``<task>/<split>-<lang>.jsonl`` (``{source, target}`` lines), Tatoeba as
LASER ships it (``tatoeba/tatoeba.<code>-eng.{<code>,eng}``, line-aligned), or BUCC 2018
(``bucc2018/<iso1>-en.<split>.{<iso1>,en,gold}``, ``id<TAB>sentence`` lines and id pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from feature_store.errors import InvalidData
from trainer.data.files import language_codes, read_jsonl, validate
from trainer.data.tasks import folder_names

# Tatoeba's LASER files name some languages by an individual code, not the macrolanguage.
_LASER_CODES = {"swa": "swh", "zho": "cmn", "fas": "pes", "msa": "zsm", "ara": "ara"}


@dataclass
class RetrievalSet:
    """Sentences to embed on each side and the gold (source index, target index) pairs."""

    path: Path
    sources: list[str]
    targets: list[str]
    gold: list[tuple[int, int]]


def load_retrieval(data_dir: Path, task: str, splits: tuple[str, ...], language: str) -> RetrievalSet:
    """A retrieval test set: canonical ``{source, target}`` JSONL, LASER Tatoeba or BUCC 2018 files."""
    codes = language_codes(language)
    for folder in folder_names(task):
        base = data_dir / folder
        for split in splits:
            for c in codes:
                if (base / f"{split}-{c}.jsonl").is_file():
                    return _retrieval_from_jsonl(base / f"{split}-{c}.jsonl")
        for c in [_LASER_CODES.get(codes[0], codes[0]), *codes]:
            src, tgt = base / f"tatoeba.{c}-eng.{c}", base / f"tatoeba.{c}-eng.eng"
            if src.is_file() and tgt.is_file():
                sources, targets = _lines(src), _lines(tgt)
                if len(sources) != len(targets):
                    raise InvalidData(f"{len(sources)} lines but {len(targets)} in {tgt.name}", path=str(src))
                return RetrievalSet(src, sources, targets, [(i, i) for i in range(len(sources))])
        for split in splits:
            for c in codes:
                stem = base / f"{c}-en.{split}"
                files = [Path(f"{stem}.{c}"), Path(f"{stem}.en"), Path(f"{stem}.gold")]
                if all(f.is_file() for f in files):
                    return _retrieval_from_bucc(*files)
    raise InvalidData(
        f"no {'/'.join(splits)} data for retrieval task {task!r} in language {language!r} "
        f"(expected e.g. {task}/{splits[0]}-{codes[0]}.jsonl)",
        path=str(data_dir),
    )


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def _retrieval_from_jsonl(path: Path) -> RetrievalSet:
    split = read_jsonl(path)
    if not split.examples:
        raise InvalidData("no examples in file", path=str(path))
    validate(split, "retrieval")
    sources: list[str] = []
    targets: list[str] = []
    gold = []
    for ex in split.examples:
        if ex.get("source") is not None and ex.get("target") is not None:
            gold.append((len(sources), len(targets)))
        if ex.get("source") is not None:
            sources.append(ex["source"])
        if ex.get("target") is not None:
            targets.append(ex["target"])
    return RetrievalSet(path, sources, targets, gold)


def _retrieval_from_bucc(src: Path, tgt: Path, gold_path: Path) -> RetrievalSet:
    def read_ids(path: Path) -> tuple[list[str], dict[str, int]]:
        texts: list[str] = []
        ids: dict[str, int] = {}
        for n, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            sid, sep, text = line.partition("\t")
            if not sep:
                raise InvalidData("expected id<TAB>sentence", path=str(path), line=n, field="sentence")
            ids[sid] = len(texts)
            texts.append(text)
        return texts, ids

    sources, src_ids = read_ids(src)
    targets, tgt_ids = read_ids(tgt)
    gold = []
    for n, line in enumerate(_lines(gold_path), start=1):
        if not line.strip():
            continue
        a, _, b = line.partition("\t")
        if a not in src_ids or b not in tgt_ids:
            raise InvalidData(
                "gold pair names an unknown sentence id",
                path=str(gold_path),
                line=n,
                field="source_id" if a not in src_ids else "target_id",
            )
        gold.append((src_ids[a], tgt_ids[b]))
    return RetrievalSet(src, sources, targets, gold)
