"""Token attributions on a tiny model that learned one decisive word, and the pages that show them."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import FILLER

from finrisk_nlp.cli.main import main
from finrisk_nlp.evaluation.explain import (
    ExplainError,
    explain,
    render_explanation_markdown,
    render_html,
    render_terminal,
)

pytest.importorskip("captum", reason="finrisk explain needs the explain extra: pip install finrisk_nlp[explain]")


def _records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Only the word "gambling" (default) or "savings" (repaid) tells the classes apart.

    Both are whole tokens of the tiny vocabulary: a cue spelt in single-letter pieces shares them with the filler
    words, and the tiny model then learns those letters instead (which attributions show faithfully).
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        default = i % 2 == 0
        parts = rng.sample(FILLER, 2) + ["gambling" if default else "savings"]
        rng.shuffle(parts)
        rows.append({"text": " ".join(parts) + ".", "outcome": "default" if default else "repaid"})
    return rows


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_model_dir, tiny_tokenizer) -> Path:
    """A LoRA model trained (directly, in a few seconds) until it tells every training text apart with confidence."""
    import torch

    from finrisk_nlp.config import LoraSettings, ModelConfig
    from finrisk_nlp.modeling import ModelMetadata, TaskMetadata, build_model, save_model
    from finrisk_nlp.tasks import get_task

    task = get_task("credit_text")
    rows = _records(64)
    texts, targets = [r["text"] for r in rows], torch.tensor([task.labels.index(r["outcome"]) for r in rows])
    torch.manual_seed(0)
    config = ModelConfig(name_or_path=str(tiny_model_dir), max_length=32, token_pooling="cls")
    model, tokenizer = build_model(config,
                                   LoraSettings(r=4, alpha=8, dropout=0.0), {task.name: task})
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    everything = tokenizer(texts, padding=True, return_tensors="pt")
    rng = random.Random(0)
    for _ in range(40):
        for _ in range(10):
            batch = rng.sample(range(len(texts)), 16)
            enc = tokenizer([texts[i] for i in batch], padding=True, return_tensors="pt")
            loss = torch.nn.functional.cross_entropy(model(**enc).logits, targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            probs = model.eval()(**everything).logits.softmax(-1)
        model.train()
        if (probs.argmax(-1) == targets).all() and probs.max(-1).values.min() > 0.95:
            break
    else:
        pytest.fail("the tiny model did not learn the one-word rule in 400 steps")
    out = tmp_path_factory.mktemp("explain") / "run"
    save_model(model, tokenizer, ModelMetadata(tasks={task.name: TaskMetadata(task)}, base_model=str(tiny_model_dir),
                                               max_length=32, lora=True), out / "model")
    return out


@pytest.fixture(scope="module")
def predictor(trained_run):
    from finrisk_nlp.inference.predictor import Predictor

    return Predictor.load(trained_run)


TEXTS = ["loan for a car, gambling, family of four.", "rent paid by card and savings business loan from the bank."]


def test_the_deciding_word_ranks_first(predictor):
    risky, safe = explain(predictor, TEXTS, top_k=3)
    assert (risky.predicted_label, safe.predicted_label) == ("default", "repaid")
    assert risky.label == "default" and risky.evidence[0].text == "gambling"
    assert safe.label == "repaid" and safe.evidence[0].text == "savings"
    assert all(risky.text[w.start:w.end] == w.text for w in risky.words)
    # Completeness of integrated gradients: the scores add up to the probability's change from the baseline.
    assert abs(risky.convergence_delta) < 0.05
    assert len(risky.evidence) <= 3 and not risky.truncated


def test_word_pieces_are_summed_into_words(predictor):
    # "gamblings" is gambling + ##s, "paid" is p ##a ##i ##d: each is one word with one score.
    (exp,) = explain(predictor, ["rent paid by card, gamblings."])
    assert [w.text for w in exp.words] == ["rent", "paid", "by", "card", ",", "gamblings", "."]
    (word,) = [w for w in exp.words if w.text == "gamblings"]
    assert (word.start, word.end) == (19, 28) and word in exp.evidence  # one score for both pieces, for default


def test_a_given_label_turns_the_decisive_word_into_counter_evidence(predictor):
    (exp,) = explain(predictor, TEXTS[:1], label="repaid")
    assert exp.label == "repaid" and exp.predicted_label == "default"
    assert exp.counter_evidence[0].text == "gambling"
    with pytest.raises(ExplainError, match="'fraud' is not a label.*'repaid', 'default'"):
        explain(predictor, TEXTS, label="fraud")


def test_to_dict_is_json_ready_for_batch_scoring(predictor):
    (exp,) = explain(predictor, TEXTS[:1], top_k=2)
    out = json.loads(json.dumps(exp.to_dict()))
    top = exp.evidence[0]
    assert out["evidence"][0] == {"text": "gambling", "start": 16, "end": 24, "score": pytest.approx(top.score)}
    assert set(out["probabilities"]) == {"repaid", "default"} and "words" not in out
    assert len(exp.to_dict(include_words=True)["words"]) == len(exp.words)


def test_long_texts_are_explained_over_their_first_window(predictor):
    long_text = "gambling " + "loan for a car " * 40
    (exp,) = explain(predictor, [long_text])
    assert exp.truncated and exp.words[-1].end < len(long_text)


class _Spans(HTMLParser):
    """Collects the text of every attribution <span> with its attributes, and any <script> element."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[tuple[dict[str, str | None], str]] = []
        self.scripts = 0
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        if tag == "span" and "data-score" in dict(attrs):
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data):
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.spans.append((self._open, self._text))
            self._open = None


def test_html_page_highlights_the_words_and_escapes_the_text(predictor):
    texts = TEXTS + ["<script>alert(1)</script> gambling & savings"]
    page = render_html(explain(predictor, texts))
    parser = _Spans()
    parser.feed(page)
    assert parser.scripts == 0  # the text's markup is shown, never run
    by_word: dict[str, dict] = {}
    for attrs, text in parser.spans:
        by_word.setdefault(text, attrs)  # the first text that has the word
    cue = by_word["gambling"]
    assert "pos" in cue["class"] and float(cue["data-score"]) > 0 and "background-color" in cue["style"]
    assert float(by_word["savings"]["data-score"]) > 0  # second text: explained for its own prediction, repaid
    assert "<" in by_word and "script" in by_word
    assert "<style>" in page and "predicted <code>default</code>" in page and "<td>default</td>" in page


def test_terminal_and_markdown_rendering(predictor):
    (exp,) = explain(predictor, TEXTS[:1])
    plain = render_terminal(exp, color=False)
    assert "\033[" not in plain and "for default: gambling +" in plain.splitlines()[2]
    coloured = render_terminal(exp, color=True)
    assert "\033[30;48;5;83mgambling\033[0m" in coloured  # the strongest word on the strongest green
    md = render_explanation_markdown([exp])
    assert "**gambling**" in md and "evidence: `gambling` +" in md and "explaining `default`" in md


def test_cli_writes_terminal_json_and_html(trained_run, tmp_path, capsys):
    page = tmp_path / "why.html"
    assert main(["explain", str(trained_run), TEXTS[0], "--top-k", "2", "--html", str(page), "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("predicted default") and "\033[" not in out  # captured output is not a terminal
    assert 'data-score' in page.read_text() and ">gambling</span>" in page.read_text()
    assert main(["explain", str(trained_run), TEXTS[1], "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["text"] == TEXTS[1] and row["evidence"][0]["text"] == "savings"
    assert main(["explain", str(trained_run), TEXTS[0], "--label", "nope"]) == 2
    assert main(["explain", str(trained_run)]) == 2
