"""Saved-model metadata: typed in memory, the previous release's ``finrisk_model.json`` layout on disk.

The files under ``tests/assets/metadata/`` were written by the release before typed metadata (its
``build_metadata`` plus the final evaluation's calibration and threshold), unchanged: they must keep loading, and
what this release writes for the same model must be what that release wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.metadata import Decision, Head, ModelMetadata, TaskMetadata, Windows
from finrisk_nlp.tasks import get_task

OLD = Path(__file__).parent / "assets" / "metadata"
REPO = Path(__file__).resolve().parent.parent
THREE = ["credit_text", "transaction_memo", "aml_alert"]


def _old(name: str) -> dict:
    return json.loads((OLD / name).read_text())


def test_a_previous_release_one_task_file_reads_typed_and_is_written_back_unchanged():
    raw = _old("one_task_with_fields.json")
    meta = ModelMetadata.from_json(raw)
    entry = meta.task_metadata()
    assert meta.task_names() == ["credit_text"] and entry.task == get_task("credit_text")
    assert entry.windows == Windows(max_chunks=4, stride=32)
    assert entry.decision is not None and entry.decision.threshold["by_label"]["default"]["value"] == 0.37
    assert entry.decision.calibration["temperature"] == 1.7
    assert entry.redact_pii is True and entry.fields is not None and entry.fields.names == ["income", "segment"]
    assert meta.head == Head(pooling="attention", token_pooling="mean", fusion="concat", field_dropout=0.1)
    assert meta.summary_task() == entry.task
    assert meta.to_json() == raw


def test_a_previous_release_three_task_file_reads_typed_and_is_written_back_unchanged():
    raw = _old("three_tasks_soft.json")
    meta = ModelMetadata.from_json(raw)
    assert meta.task_names() == THREE
    assert meta.task_specs() == {name: get_task(name) for name in THREE}
    assert meta.head.strategy == "soft" and meta.head.shared_adapter
    assert meta.adapter_names() == ["shared", *THREE]
    assert meta.task_metadata("transaction_memo").decision == Decision(
        calibration={"method": "none", "kind": "multiclass", "positive_index": 1, "params": {}}, threshold=None)
    summary = meta.summary_task()
    assert summary.name == "multitask" and summary.labels[0] == "credit_text/repaid"
    assert len(summary.labels) == sum(len(get_task(name).labels) for name in THREE)
    assert meta.to_json() == raw
    with pytest.raises(ModelLoadError, match="has tasks .* name one of them"):
        meta.task_metadata()
    with pytest.raises(ModelLoadError, match="task 'fraud' was asked for"):
        meta.task_metadata("fraud")
    # One task's view is written in the one-task layout: what a one-task export holds.
    single = meta.for_task("aml_alert").to_json()
    assert single["multitask"] is None and single["task"]["name"] == "aml_alert"
    assert single["extra"] == raw["multitask"]["tasks"]["aml_alert"]["extra"]


def test_keys_an_earlier_release_left_out_take_the_defaults_it_meant():
    task = _old("one_task_with_fields.json")["task"]
    meta = ModelMetadata.from_json({"task": task, "base_model": "m", "max_length": 64, "lora": False,
                                    "format_version": 2})
    entry = meta.task_metadata()
    assert entry.windows == Windows(max_chunks=1, stride=0) and meta.head == Head()
    assert entry.decision is None and entry.redact_pii is None and entry.fields is None
    assert meta.adapter_names() == [] and meta.field_layouts() == {}


def test_another_format_and_a_corrupt_file_are_refused_by_name(tmp_path):
    (tmp_path / "finrisk_model.json").write_text(json.dumps({**_old("one_task_with_fields.json"),
                                                             "format_version": 1}))
    with pytest.raises(ModelLoadError, match=f"{tmp_path} was saved in model format 1, but this finrisk_nlp reads "
                                             "format 2"):
        ModelMetadata.read(tmp_path)
    (tmp_path / "finrisk_model.json").write_text('{"task": 3, "format_version": 2}')
    with pytest.raises(ModelLoadError, match="finrisk_model.json is corrupt"):
        ModelMetadata.read(tmp_path)
    with pytest.raises(ModelLoadError, match="has no finrisk_model.json"):
        ModelMetadata.read(tmp_path / "elsewhere")


@pytest.mark.parametrize(("config", "names"), [("credit_text.yaml", ["credit_text"]), ("multitask.yaml", THREE)])
def test_a_runs_metadata_round_trips_for_one_task_and_three(tmp_path, config, names):
    from finrisk_nlp.config import load_config
    from finrisk_nlp.training.engine import build_metadata

    cfg = load_config(REPO / "recipes" / "configs" / config, ["model.max_chunks=3", "model.stride=16"])
    meta = build_metadata(cfg, {name: get_task(name) for name in names})
    assert meta.task_names() == names
    assert {entry.windows for entry in meta.tasks.values()} == {Windows(max_chunks=3, stride=16)}
    assert all(entry.decision is None for entry in meta.tasks.values())
    for name in names:  # what the final evaluation adds, task by task
        meta = meta.with_decision(name, Decision(calibration={"method": "none"}, threshold=None))
    meta.write(tmp_path)
    assert ModelMetadata.read(tmp_path) == meta
    raw = json.loads((tmp_path / "finrisk_model.json").read_text())
    assert ("multitask" in raw and raw["multitask"] is None) == (len(names) == 1)
    assert "fusion" not in raw["head"]  # text-only models keep the metadata they always had


def test_a_model_saved_with_the_previous_release_metadata_loads_and_predicts(tmp_path, tiny_model_dir):
    import torch

    from finrisk_nlp.config import LoraSettings, ModelConfig
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.modeling import build_model, load_model, save_model

    raw = {**_old("one_task_with_fields.json"), "base_model": str(tiny_model_dir), "max_length": 32}
    raw["extra"]["chunking"]["stride"] = 8  # windows of the tiny model's 32 tokens
    old = ModelMetadata.from_json(raw)
    task, fields = get_task("credit_text"), old.task_metadata().fields
    torch.manual_seed(0)
    model, tokenizer = build_model(ModelConfig(name_or_path=str(tiny_model_dir), max_length=32, token_pooling="mean"),
                                   LoraSettings(r=4), {task.name: task}, fields={task.name: fields.input_layout()})
    fresh = ModelMetadata(tasks={task.name: TaskMetadata(task, fields=fields)}, base_model=str(tiny_model_dir),
                          max_length=32, lora=True, head=Head(token_pooling="mean"))
    save_model(model.eval(), tokenizer, fresh, tmp_path / "model")
    (tmp_path / "model" / "finrisk_model.json").write_text(json.dumps(raw, indent=2))  # as the old release wrote

    reloaded, _, meta = load_model(tmp_path / "model")
    assert meta == old
    torch.testing.assert_close(reloaded.heads.state_dict(), model.heads.state_dict())
    predictor = Predictor.load(tmp_path / "model")
    assert (predictor.max_chunks, predictor.stride, predictor.redact_pii) == (4, 8, True)
    assert predictor.positive_threshold == 0.37 and predictor.calibration.method == "temperature"
    assert predictor.field_names == ["income", "segment"]
    result = predictor.predict([{"text": "missed payments after losing his job", "income": 5000, "segment": "sme"}])
    assert result[0]["decision"] in task.labels
