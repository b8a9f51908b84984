import random

import numpy as np
import pytest
import torch

from finrisk_nlp.config import LoraSettings, ModelConfig
from finrisk_nlp.data.loaders import DocumentCollator
from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.inference.predictor import Predictor
from finrisk_nlp.modeling import Head, ModelMetadata, TaskMetadata, Windows, build_model, save_model
from finrisk_nlp.tasks import get_task

AML = get_task("aml_alert")
FILLER = ["the", "customer", "bank", "account", "review", "of", "deposit", "history", "with", "income", "and", "rent"]


def test_windows_overlap_by_stride_and_the_cap_keeps_the_last_window(tiny_tokenizer):
    words = [f"{w}" for w in FILLER] * 6
    columns, counts = window_encodings(tiny_tokenizer, [" ".join(words), "short memo"], 16, 4, max_chunks=50)
    first, second = columns["input_ids"][0], columns["input_ids"][1]
    assert len(first) == 16 and first[-5:-1] == second[1:5]  # 4 tokens shared, between [CLS] and [SEP]
    assert counts[1] == 1 and columns["doc_index"].count(1) == 1
    capped, capped_counts = window_encodings(tiny_tokenizer, [" ".join(words)], 16, 4, max_chunks=3)
    assert capped_counts == [counts[0]] and counts[0] > 3 and len(capped["input_ids"]) == 3
    all_windows = [ids for ids, d in zip(columns["input_ids"], columns["doc_index"], strict=True) if d == 0]
    assert capped["input_ids"][0] == all_windows[0] and capped["input_ids"][-1] == all_windows[-1]


def _text(rng, cue: str | None, n_words: int) -> str:
    words = [rng.choice(FILLER) for _ in range(n_words)]
    if cue:
        words.insert(rng.randrange(len(words) + 1), cue)
    return " ".join(words)


def _documents(tokenizer, texts, labels):
    columns, _ = window_encodings(tokenizer, texts, 16, 4, max_chunks=8)
    docs = [{"input_ids": [], "attention_mask": [], "labels": y} for y in labels]
    for ids, mask, d in zip(columns["input_ids"], columns["attention_mask"], columns["doc_index"], strict=True):
        docs[d]["input_ids"].append(ids)
        docs[d]["attention_mask"].append(mask)
    return docs


@pytest.fixture(scope="module")
def cue_model(tiny_model_dir, tiny_tokenizer, tmp_path_factory):
    """A tiny document classifier trained here, through the same windows and pooling as a recipe: a text is
    'escalate' exactly when it contains the word 'sanctions', anywhere in up to 45 words (several windows)."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model, tokenizer = build_model(ModelConfig(name_or_path=str(tiny_model_dir), max_length=16, pooling="max"),
                                   LoraSettings(enabled=False), {AML.name: AML})
    collate = DocumentCollator(tokenizer, multi_label=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        labels = [int(rng.random() < 0.5) for _ in range(16)]
        texts = [_text(rng, "sanctions" if y else None, rng.randint(3, 45)) for y in labels]
        batch = collate(_documents(tokenizer, texts, labels))
        targets = batch.pop("labels")
        logits = model(**batch, num_docs=len(targets)).logits
        torch.nn.functional.cross_entropy(logits, targets).backward()
        optimizer.step()
        optimizer.zero_grad()
    entry = TaskMetadata(AML, windows=Windows(max_chunks=8, stride=4), redact_pii=True)
    meta = ModelMetadata(tasks={AML.name: entry}, base_model=str(tiny_model_dir), max_length=16, lora=False,
                         head=Head(pooling="max", token_pooling="cls"))
    return Predictor.load(save_model(model.eval(), tokenizer, meta, tmp_path_factory.mktemp("cue") / "model"))


def test_chunked_prediction_finds_evidence_that_truncation_cuts_off(cue_model):
    rng = random.Random(1)
    late = _text(rng, None, 40) + " sanctions"  # ~42 tokens: the cue sits far past max_length=16
    early = "sanctions " + _text(rng, None, 40)
    clean = _text(rng, None, 41)
    chunked, chunks = cue_model.predict_documents([late, early, clean])
    truncated, single = cue_model.predict_documents([late, early, clean], max_chunks=1)
    assert chunks.tolist()[0] > 1 and single.tolist() == [1, 1, 1]
    esc = AML.positive_index
    assert truncated[0, esc] < 0.5 < chunked[0, esc]  # only the windows see the late cue
    assert truncated[1, esc] > 0.5 and chunked[1, esc] > 0.5  # an early cue is found either way
    assert chunked[2, esc] < 0.5
    assert np.allclose(chunked.sum(axis=1), 1.0)
    results = cue_model.predict([late, clean])
    assert [r["decision"] for r in results] == ["escalate", "close"] and results[0]["num_chunks"] > 1


def test_predictor_redacts_before_the_tokenizer_sees_the_text(cue_model, monkeypatch):
    seen = []
    tokenizer_call = type(cue_model.tokenizer).__call__

    def spy(self, text, *args, **kwargs):
        seen.extend(text if isinstance(text, list) else [text])
        return tokenizer_call(self, text, *args, **kwargs)

    monkeypatch.setattr(type(cue_model.tokenizer), "__call__", spy)
    cue_model.predict(["wire to DE89 3704 0044 0532 0130 00 from card 4111 1111 1111 1111, ssn 123-45-6789"])
    assert seen and all("4111" not in t and "DE89" not in t and "123-45" not in t for t in seen)
    assert "[IBAN]" in seen[0] and "[CARD]" in seen[0] and "[SSN]" in seen[0]
