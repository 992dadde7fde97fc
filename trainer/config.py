"""The trainer's configuration: one dataclass per level, read from TOML, written beside artefacts.

A matrix file (``stepstone train matrix --config matrix.toml``)::

    data = "/data/xtreme"                 # folder with <task>/<split>-<lang>.jsonl (or XTREME files)
    out = "runs/xstilts"                  # artefacts and checkpoints
    dataset = "xstilts-repro"             # the runs' `dataset` column
    models = ["/models/xlm-roberta-large"]
    source_tasks = ["none", "mnli", "squad", "mnli+squad"]   # "none" = the baseline cell
    target_tasks = ["xnli", "udpos"]
    languages = ["swa", "yor"]            # or a table: [languages] xnli = [...], udpos = [...]
    seeds = [1, 2, 3]
    intermediate_sizes = [0]              # 0 = all of the intermediate data

    [train]                               # any TrainConfig field; unset = the X-STILTs recipe
    learning_rate = 1e-5

No torch here: the CLI imports this module to parse its options.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feature_store.errors import InvalidRequest
from feature_store.paths import atomic_write_bytes
from trainer.data.tasks import canonical_id


@dataclass
class TrainConfig:
    """Knobs of the Hugging Face Trainer shared by every phase."""

    # The recipe: None means the X-STILTs default for the phase's task (trainer/cell/recipe.py).
    epochs: float | None = None  # passes over a phase's training data (X-STILTs: XNLI 2, UD-POS 10, ...)
    learning_rate: float = 1e-5  # peak AdamW rate (jiant's X-STILTs configs: 1e-5 for XLM-R Large)
    batch_size: int | None = None  # the GLOBAL batch: all devices x accumulation (X-STILTs: 32, QA 16)
    eval_batch_size: int = 64  # examples per device in prediction
    gradient_accumulation_steps: int = 1  # the global batch is split into this many steps per update
    warmup_ratio: float = 0.1  # share of the update steps with a linear warm-up
    weight_decay: float = 0.01  # AdamW decay (HF leaves biases and LayerNorm out)
    max_seq_length: int = 256  # tokens per example: classification, pairs, MC, tagging windows (jiant: 256)
    qa_max_seq_length: int = 384  # tokens per QA window (question + context part)
    doc_stride: int = 128  # overlap between QA windows of a long context
    max_answer_length: int = 30  # longest predicted answer span, in tokens
    max_steps: int = -1  # stop each training phase after this many updates (-1: run the epochs)
    max_train_samples: int | None = None  # cap each training set (a seeded sample); for tests and CPUs
    max_eval_samples: int | None = None  # cap each evaluation set (its first examples)
    max_dev_samples: int | None = None  # cap the English dev sets evaluated during and after phases
    eval_cap: str = (
        "sample"  # how those two caps choose: "sample" (a fixed draw, same positions in every language) or "head"
    )
    eval_split: str = "auto"  # "test", "dev", or "auto" = test when the file exists, else dev
    dev_selection: bool = True  # evaluate English dev each epoch, keep the best weights (jiant)
    early_stopping_patience: int = 3  # stop after this many dev evaluations without improvement (0: never)
    eval_steps: int = 0  # also evaluate English dev every this many updates (0: once per epoch)
    bf16: bool = True  # mixed precision on a GPU: bf16, or fp16 where the GPU has no bf16
    torch_compile: bool = False  # compile the model with torch.compile (GPU, long phases)
    group_by_length: bool = True  # batch similar lengths together so dynamic padding pads less
    freeze_embeddings: bool = False  # freeze the word-embedding matrix (about half the CPU time)
    # how the word-embedding table is updated when trained: "sparse" (only the rows a batch uses,
    # lazily: trainer/cell/update.py), "dense", or "auto" = sparse on a CPU, dense on a GPU or under DDP
    embedding_update: str = "auto"
    cuda_graphs: bool = True  # replay each batch shape's forward + backward as a CUDA graph (GPU, bf16)
    attn_implementation: str = "sdpa"  # attention kernel: PyTorch's scaled_dot_product_attention
    save_steps: int = 5000  # a resume checkpoint every this many updates (one is GBs with Adam state)
    save_minutes: float = 60.0  # ... and every this many minutes of wall-clock time (0: never)
    save_total_limit: int = 1  # checkpoints kept per phase; all are deleted when the phase is done
    logging_steps: int = 50  # loss logged every this many updates
    dataloader_num_workers: int = 0  # tokenisation is done up front, so workers rarely help
    retrieval_layer: int | None = None  # hidden layer mean-pooled for retrieval (None: 14 of 24, jiant)
    retrieval_max_length: int = 512  # tokens per retrieval sentence (jiant's X-STILTs: 512)
    cache_features: bool = True  # keep tokenised datasets under out/_features/, shared by cells
    keep_models: bool = False  # keep phase weights after a cell finishes (they are GBs each)
    use_cpu: bool = False  # train on the CPU even when a GPU is there

    def __post_init__(self) -> None:
        for name, allowed in (
            ("eval_split", ("auto", "test", "dev")),
            ("eval_cap", ("sample", "head")),
            ("embedding_update", ("auto", "dense", "sparse")),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise InvalidRequest(f"train knob {name} = {value!r}: expected one of {', '.join(allowed)}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "[train]") -> TrainConfig:
        return _build(cls, raw, where)


@dataclass
class CellConfig:
    """One cell: intermediate task(s) -> target task in English -> zero-shot languages."""

    model: Path  # local Hugging Face model folder (config, weights, tokenizer); never downloaded
    data: Path  # data folder, see trainer/data/files.py for the file names read
    target_task: str  # the task evaluated in `languages` (xnli, udpos, xquad, tatoeba, ...)
    languages: list[str]  # target languages evaluated zero-shot (ISO 639-3 or anything resolvable)
    source_task: str = "none"  # intermediate task, "a+b" for multi-task, "none" for the baseline
    source_language: str = "eng"  # language of the intermediate (or, if same task, training) data
    intermediate_size: int | None = None  # subsample the intermediate data to this many examples
    seed: int = 1  # seeds the heads, the data order and the subsample
    out: Path = Path("stepstone-train")  # artefacts and checkpoints go under out/<cell id>/
    dataset: str = "stepstone-trainer"  # the runs' `dataset` column
    resume: bool = False  # reuse finished phases and resume from the last checkpoint
    train: TrainConfig = field(default_factory=TrainConfig)  # Trainer knobs (of phase 2, and 1 unless set below)
    phase1_train: TrainConfig | None = None  # phase 1's knobs where they differ from phase 2's
    # [source_train.<task>] of the matrix: knobs of that intermediate task's phase 1 only (its own
    # recipe: updates, rate, epochs, frozen embeddings). Every cell of the matrix carries the whole
    # table, so a baseline and the intermediate runs it is compared with share one config_hash.
    source_train: dict[str, dict[str, Any]] = field(default_factory=dict)

    def phase1_config(self) -> CellConfig:
        """This cell with its phase-1 knobs: what phase 1 trains, fingerprints and dev-checks with."""
        base = self.train if self.phase1_train is None else self.phase1_train
        override = source_knobs(self.source_train, self.source_task)
        if override:
            return dataclasses.replace(self, train=dataclasses.replace(base, **override))
        return self if self.phase1_train is None else dataclasses.replace(self, train=base)


@dataclass
class MatrixConfig:
    """A grid of cells: models x seeds x sizes x targets x sources (baselines first)."""

    data: Path  # data folder shared by every cell
    models: list[Path]  # local model folders
    source_tasks: list[str]  # intermediate tasks; "none" adds the baseline cell
    target_tasks: list[str]  # target tasks
    languages: list[str] | dict[str, list[str]]  # one list for all targets, or one per target
    source_languages: list[str] = field(default_factory=lambda: ["eng"])  # intermediate data languages
    seeds: list[int] = field(default_factory=lambda: [1])  # one cell per seed
    intermediate_sizes: list[int] = field(default_factory=lambda: [0])  # 0 = all the data
    out: Path = Path("stepstone-train")  # artefacts and checkpoints
    dataset: str = "stepstone-trainer"  # the runs' `dataset` column
    train: TrainConfig = field(default_factory=TrainConfig)  # Trainer knobs for every cell
    # [target_train.<task>]: knobs that replace [train]'s in that target's fine-tuning (phase 2)
    # only; phase 1 keeps [train]'s, so every target of a source still shares one encoder.
    target_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    # [source_train.<task>]: knobs that replace [train]'s in that intermediate task's phase 1 only.
    source_train: dict[str, dict[str, Any]] = field(default_factory=dict)

    def phase1_knobs_for(self, source: str) -> TrainConfig:
        """The knobs of ``source``'s phase 1: [train] with its [source_train.<task>] on top."""
        override = source_knobs(self.source_train, source)
        return dataclasses.replace(self.train, **override) if override else self.train

    def train_for(self, target: str) -> TrainConfig:
        """The knobs of ``target``'s fine-tuning: [train] with its [target_train.<target>] on top."""
        override = self.target_train.get(canonical_id(target))
        return dataclasses.replace(self.train, **override) if override else self.train

    def phase1_train_for(self, target: str) -> TrainConfig | None:
        """A cell's ``phase1_train``: [train] when the target's fine-tuning has knobs of its own."""
        return self.train if self.target_train.get(canonical_id(target)) else None

    def languages_for(self, target: str) -> list[str]:
        if isinstance(self.languages, dict):
            if target not in self.languages:
                raise InvalidRequest(f"matrix config: no languages listed for target task {target!r}")
            return list(self.languages[target])
        return list(self.languages)


def source_knobs(tables: dict[str, dict[str, Any]], source: str) -> dict[str, Any]:
    """The [source_train] knobs of a phase-1 source ("a+b": the union; tasks that disagree on a knob fail)."""
    if not tables or source.strip().lower() in ("none", ""):
        return {}
    merged: dict[str, Any] = {}
    for part in source.split("+"):
        for knob, value in tables.get(canonical_id(part.strip()), {}).items():
            if knob in merged and merged[knob] != value:
                raise InvalidRequest(
                    f"[source_train] of {source!r}: its tasks set {knob} to {merged[knob]!r} and {value!r}"
                )
            merged[knob] = value
    return merged


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InvalidRequest(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(known)}")
    return cls(**raw)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidRequest(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRequest(f"{path}: not valid TOML ({exc})") from None


def load_train_config(path: Path | None) -> TrainConfig:
    """The ``[train]`` table of a TOML file (a cell's ``--config``); defaults without a file."""
    if path is None:
        return TrainConfig()
    return TrainConfig.from_dict(_read_toml(path).get("train", {}), f"{path} [train]")


def load_matrix(path: Path) -> MatrixConfig:
    raw = _read_toml(path)
    train = TrainConfig.from_dict(raw.pop("train", {}), f"{path} [train]")
    for key in ("data", "models", "source_tasks", "target_tasks", "languages"):
        if key not in raw:
            raise InvalidRequest(f"{path}: missing key {key!r}")
    base = Path(path).parent
    raw["data"] = base / Path(raw["data"]).expanduser()
    raw["models"] = [base / Path(m).expanduser() for m in raw["models"]]
    raw["out"] = base / Path(raw.get("out", "stepstone-train")).expanduser()
    raw["target_train"] = _target_train(raw.get("target_train", {}), raw["target_tasks"], train, path)
    raw["source_train"] = _source_train(raw.get("source_train", {}), raw["source_tasks"], train, path)
    return _build(MatrixConfig, {**raw, "train": train}, str(path))


def _task_tables(raw: Any, section: str, what: str, known: list[str], train: TrainConfig, path: Path,
                 example: str) -> dict[str, dict[str, Any]]:
    """[<section>.<task>] tables, checked: each names one of ``known`` (registry ids) and real knobs."""
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{path}: {section} must be tables like [{section}.{example}]")
    out: dict[str, dict[str, Any]] = {}
    for task, knobs in raw.items():
        where = f"{path} [{section}.{task}]"
        if canonical_id(task) not in known:
            raise InvalidRequest(f"{where}: {task!r} is not one of the {what} tasks ({', '.join(known)})")
        if not isinstance(knobs, dict):
            raise InvalidRequest(f"{where}: expected a table of train knobs, got {knobs!r}")
        TrainConfig.from_dict({**to_jsonable(train), **knobs}, where)  # names a bad knob or value
        out[canonical_id(task)] = dict(knobs)
    return out


def _target_train(raw: Any, targets: list[str], train: TrainConfig, path: Path) -> dict[str, dict[str, Any]]:
    """[target_train.<task>]: one target task's fine-tuning knobs."""
    return _task_tables(raw, "target_train", "target", [canonical_id(t) for t in targets], train, path, "sib200")


def _source_train(raw: Any, sources: list[str], train: TrainConfig, path: Path) -> dict[str, dict[str, Any]]:
    """[source_train.<task>]: one intermediate task's phase-1 knobs (a multi-task source names its parts)."""
    known = sorted({canonical_id(part.strip()) for s in sources if s.strip().lower() != "none"
                    for part in s.split("+")})
    return _task_tables(raw, "source_train", "intermediate", known, train, path, "cola")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): the second of four slices (1-based); None -> (1, 1)."""
    if text is None:
        return 1, 1
    i, sep, n = text.partition("/")
    if not sep or not i.strip().isdigit() or not n.strip().isdigit():
        raise InvalidRequest(f"--shard must look like i/n (e.g. 1/4), got {text!r}")
    index, count = int(i), int(n)
    if count < 1 or not 1 <= index <= count:
        raise InvalidRequest(f"--shard {text}: need 1 <= i <= n")
    return index, count


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n").encode())
