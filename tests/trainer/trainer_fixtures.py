"""Builders for the trainer tests: a tiny XLM-R folder, a tokenizer trained here, tiny data files.

Nothing is downloaded: the model is a random XLMRobertaConfig (hidden 32, 2 layers), the
tokenizer a BPE trained with `tokenizers` on the fixture text and saved as a fast tokenizer, so
the trainer loads both through the real local-folder path.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = (
    "the cat dog house river tree sun moon walks runs sees likes big small red green old new "
    "paris london city country capital river mountain in on of and is was a"
).split()
SW_WORDS = "paka mbwa nyumba mto mti jua mwezi anatembea anaona mkubwa mdogo jiji na ya ni".split()
YO_WORDS = "ologbo aja ile odo igi orun osupa nrin ri nla kekere ilu ati ti ni".split()


def sentence(rng: random.Random, words: tuple[str, ...] | list[str], n: int = 6) -> str:
    return " ".join(rng.choice(words) for _ in range(n))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _pair_rows(rng: random.Random, words: list[str], n: int, labels: list[object]) -> list[dict]:
    return [
        {"text_a": sentence(rng, words), "text_b": sentence(rng, words, 4), "label": labels[i % len(labels)]}
        for i in range(n)
    ]


def _qa_rows(rng: random.Random, words: list[str], n: int, prefix: str) -> list[dict]:
    rows = []
    for i in range(n):
        answer = f"{rng.choice(words)} {rng.choice(words)}"
        left, right = sentence(rng, words, 5), sentence(rng, words, 30)
        context = f"{left} {answer} {right}"
        rows.append(
            {
                "id": f"{prefix}{i}",
                "context": context,
                "question": f"where is {rng.choice(words)}",
                "answers": {"text": [answer], "answer_start": [len(left) + 1]},
            }
        )
    return rows


def _squad_json(rows: list[dict]) -> dict:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": r["context"],
                        "qas": [
                            {
                                "id": r["id"],
                                "question": r["question"],
                                "answers": [
                                    {"text": t, "answer_start": s}
                                    for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True)
                                ],
                            }
                        ],
                    }
                    for r in rows
                ],
            }
        ],
    }


def _mc_rows(rng: random.Random, words: list[str], n: int, k: int) -> list[dict]:
    return [
        {
            "context": sentence(rng, words),
            "question": sentence(rng, words, 3),
            "choices": [sentence(rng, words, 3) for _ in range(k)],
            "label": i % k,
        }
        for i in range(n)
    ]


def _tag_rows(rng: random.Random, words: list[str], n: int, tags: list[str]) -> list[dict]:
    rows = []
    for _ in range(n):
        tokens = [rng.choice(words) for _ in range(rng.randint(3, 7))]
        rows.append({"tokens": tokens, "tags": [rng.choice(tags) for _ in tokens]})
    return rows


def build_data(root: Path) -> Path:
    """Tiny files for every format, in the canonical layout and in the XTREME / original ones."""
    rng = random.Random(0)
    langs = {"eng": WORDS, "swa": SW_WORDS, "yor": YO_WORDS}
    for task in ("mnli", "xnli"):
        write_jsonl(root / task / "train-eng.jsonl", _pair_rows(rng, WORDS, 8, ["entailment", "neutral", 2]))
    for lang in ("swa", "yor"):
        write_jsonl(root / "xnli" / f"test-{lang}.jsonl", _pair_rows(rng, langs[lang], 6, [0, 1, 2]))
    write_jsonl(root / "sst2" / "train-eng.jsonl", [{"text": sentence(rng, WORDS), "label": i % 2} for i in range(8)])
    # an unknown task: its format (classification) and labels are inferred from the data
    write_jsonl(
        root / "sentiment" / "train-eng.jsonl",
        [{"text": sentence(rng, WORDS), "label": ["pos", "neg"][i % 2]} for i in range(8)],
    )
    write_jsonl(
        root / "sentiment" / "dev-swa.jsonl",
        [{"text": sentence(rng, SW_WORDS), "label": ["pos", "neg"][i % 2]} for i in range(4)],
    )
    write_jsonl(root / "squad" / "train-eng.jsonl", _qa_rows(rng, WORDS, 8, "sq"))
    # XQuAD in the XTREME download layout: SQuAD v1.1 JSON for training, xquad.<iso1>.json to test
    (root / "xtreme" / "squad").mkdir(parents=True)
    (root / "xtreme" / "squad" / "train-v1.1.json").write_text(json.dumps(_squad_json(_qa_rows(rng, WORDS, 6, "t"))))
    (root / "xtreme" / "xquad").mkdir(parents=True)
    (root / "xtreme" / "xquad" / "xquad.sw.json").write_text(json.dumps(_squad_json(_qa_rows(rng, SW_WORDS, 4, "x"))))
    write_jsonl(root / "hellaswag" / "train-eng.jsonl", _mc_rows(rng, WORDS, 8, 4))
    write_jsonl(root / "xcopa" / "train-eng.jsonl", _mc_rows(rng, WORDS, 8, 2))
    write_jsonl(root / "xcopa" / "test-swa.jsonl", _mc_rows(rng, SW_WORDS, 4, 2))
    upos = ["NOUN", "VERB", "DET", "ADJ"]
    # UD-POS: training data as CoNLL-U, test data in XTREME's token<TAB>tag layout
    lines = []
    for row in _tag_rows(rng, WORDS, 8, upos):
        lines.append("# sent_id = x")
        lines += [
            f"{i}\t{t}\t_\t{g}\t_\t_\t_\t_\t_\t_"
            for i, (t, g) in enumerate(zip(row["tokens"], row["tags"], strict=True), start=1)
        ]
        lines.append("")
    (root / "udpos").mkdir()
    (root / "udpos" / "train-eng.conllu").write_text("\n".join(lines) + "\n")
    tsv = "\n\n".join(
        "\n".join(f"{t}\t{g}" for t, g in zip(r["tokens"], r["tags"], strict=True))
        for r in _tag_rows(rng, SW_WORDS, 4, upos)
    )
    (root / "udpos" / "test-sw.tsv").write_text(tsv + "\n")
    bio = ["O", "B-PER", "I-PER", "B-LOC", "O"]
    write_jsonl(root / "panx" / "train-eng.jsonl", _tag_rows(rng, WORDS, 8, bio))
    write_jsonl(root / "panx" / "test-yor.jsonl", _tag_rows(rng, YO_WORDS, 4, bio))
    write_jsonl(
        root / "tatoeba" / "test-swa.jsonl",
        [{"source": sentence(rng, SW_WORDS), "target": sentence(rng, WORDS)} for _ in range(5)],
    )
    bucc = root / "bucc2018"
    bucc.mkdir()
    (bucc / "sw-en.test.sw").write_text("".join(f"s{i}\t{sentence(rng, SW_WORDS)}\n" for i in range(4)))
    (bucc / "sw-en.test.en").write_text("".join(f"e{i}\t{sentence(rng, WORDS)}\n" for i in range(6)))
    (bucc / "sw-en.test.gold").write_text("s0\te1\ns2\te3\n")
    return root


def build_model(folder: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM, set_seed

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's special ids 0..3 and the mask
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    fast.save_pretrained(folder)
    set_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    XLMRobertaForMaskedLM(config).save_pretrained(folder)
    return folder
