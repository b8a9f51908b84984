"""Multi-task training: hard and soft sharing, task sampling, save/reload, predict --task, registry, 2 processes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from conftest import REPO, make_credit_records, write_jsonl
from runs import RUN_KEYS, launch_two_cpu_processes

from finrisk_nlp.config import load_config, task_data_config
from finrisk_nlp.errors import ConfigError, ModelLoadError
from finrisk_nlp.tasks import get_task
from finrisk_nlp.training.schedule import task_sampling_weights, task_schedule

CONFIG = REPO / "recipes" / "configs" / "multitask.yaml"
MEMO_CUES = {"groceries": "bread milk", "dining": "restaurant dinner", "travel": "flight hotel",
             "utilities": "electric bill", "cash_withdrawal": "atm cash", "p2p_transfer": "sent to friend",
             "gambling": "casino bet", "crypto": "bitcoin exchange"}


def make_memo_records(per_label: int = 4) -> list[dict[str, str]]:
    return [{"text": f"card payment {cue} ref {i}", "category": label}
            for label, cue in MEMO_CUES.items() for i in range(per_label)]


def make_alert_records(n: int = 24) -> list[dict[str, str]]:
    return [{"text": ("cash deposits just below limit, layered transfers" if i % 3 == 0 else
                      "salary payment from known employer, documents provided") + f" case {i}",
             "disposition": "escalate" if i % 3 == 0 else "close"} for i in range(n)]


@pytest.fixture()
def task_files(tmp_path) -> dict[str, Path]:
    return {"credit_text": write_jsonl(tmp_path / "loans.jsonl", make_credit_records(32)),
            "transaction_memo": write_jsonl(tmp_path / "memos.jsonl", make_memo_records()),
            "aml_alert": write_jsonl(tmp_path / "alerts.jsonl", make_alert_records())}


def mt_overrides(model_dir: Path, files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [f"model.name_or_path={model_dir}", "model.max_length=32", f"output_dir={out}", "cpu=true",
            "train.epochs=2", "train.batch_size=4", "train.eval_batch_size=4", "train.lr=5e-3", "train.log_every=1",
            "lora.r=4", "lora.alpha=8", "data.validation_fraction=0.25", "data.test_fraction=0.25",
            "data.min_examples_per_class=2", "train.early_stopping_patience=null", "data.dedup=warn",
            *[f"multitask.data.{task}.train_file={path}" for task, path in files.items()], *extra]


def test_config_problems_are_reported_together():
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, ["multitask.tasks=[credit_text, nope]", "multitask.shared_adapter=true",
                             "multitask.loss_weights={aml_alert: 2.0}", "multitask.temperature=0"])
    text = str(err.value)
    for needle in ("nope", "shared_adapter=true needs strategy=soft", "not in multitask.tasks", "temperature"):
        assert needle in text
    cfg = load_config(CONFIG, ["multitask.loss_weights={aml_alert: 2}"])
    assert cfg.multitask.loss_weights == {"aml_alert": 2.0} and cfg.multitask.tasks == [
        "credit_text", "transaction_memo", "aml_alert"]


def test_sampling_by_size_and_temperature():
    sizes = {"a": 900, "b": 100}
    assert task_sampling_weights(sizes, "size", 2.0) == pytest.approx({"a": 0.9, "b": 0.1})
    assert task_sampling_weights(sizes, "temperature", 2.0) == pytest.approx({"a": 0.75, "b": 0.25})
    weights = task_sampling_weights(sizes, "temperature", 2.0)
    first = task_schedule(weights, 2000, seed=3, epoch=0)
    assert first == task_schedule(weights, 2000, seed=3, epoch=0)  # what every process computes
    assert first != task_schedule(weights, 2000, seed=3, epoch=1)
    assert first.count("b") / len(first) == pytest.approx(0.25, abs=0.04)


STRATEGIES = [("hard", "false"), ("soft", "false"), ("soft", "true")]


@pytest.mark.parametrize(("strategy", "shared"), STRATEGIES)
def test_save_and_reload_give_identical_logits(tmp_path, tiny_model_dir, tiny_tokenizer, strategy, shared):
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.modeling import build_model, load_model, save_model
    from finrisk_nlp.training.engine import build_metadata

    cfg = load_config(CONFIG, [f"model.name_or_path={tiny_model_dir}", f"multitask.strategy={strategy}",
                               f"multitask.shared_adapter={shared}", "lora.r=4"])
    tasks = {name: get_task(name) for name in cfg.multitask.tasks}
    model, tokenizer = build_model(cfg.model, cfg.lora, tasks, strategy=strategy, shared_adapter=shared == "true")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("heads.") for n in trainable)
    assert any(n.startswith("heads.") for n in trainable)
    expected_adapters = {"shared"} if strategy == "hard" else set(tasks) | ({"shared"} if shared == "true" else set())
    assert {n.split("lora_A.")[1].split(".")[0] for n in trainable if "lora_A." in n} == expected_adapters
    torch.manual_seed(1)
    with torch.no_grad():  # LoRA B starts at zero: make every adapter matter, so a mix-up would show
        for name in trainable:
            model.get_parameter(name).normal_(0, 0.2)
    model.eval()
    save_model(model, tokenizer, build_metadata(cfg, tasks), tmp_path / "model")
    assert not list((tmp_path / "model").rglob("*.bin")) and (tmp_path / "model" / "heads.safetensors").is_file()
    inputs = tokenizer(["late payment on the loan", "cash at the atm"], return_tensors="pt", padding=True)
    reloaded, _, meta = load_model(tmp_path / "model")
    assert meta.task_names() == list(tasks) and not any(p.requires_grad for p in reloaded.parameters())
    logits = {}
    for name in tasks:
        with torch.no_grad():
            before = model(task=name, **inputs).logits
            torch.testing.assert_close(reloaded(task=name, **inputs).logits, before, atol=1e-6, rtol=0)
        logits[name] = before
    if strategy == "soft":  # each task runs through its own adapter: another task's adapter changes the output
        with torch.no_grad():
            mixed = model.classify(model.embed_windows(**inputs, task="aml_alert"), None, None, task="credit_text")
        assert not torch.allclose(mixed, logits["credit_text"])
    with pytest.raises(ModelLoadError, match="multi-task model"):
        Predictor.load(tmp_path / "model")
    with pytest.raises(ModelLoadError, match="aml_typology"):
        Predictor.load(tmp_path / "model", task="aml_typology")


@pytest.mark.parametrize(("strategy", "shared"), [("hard", "false"), ("soft", "true")])
def test_train_predict_and_publish(tmp_path, tiny_model_dir, task_files, monkeypatch, strategy, shared):
    from finrisk_nlp.cli.main import main as cli_main
    from finrisk_nlp.inference.predictor import Predictor
    from finrisk_nlp.registry.local import ModelRegistry
    from finrisk_nlp.training.engine import train

    out = tmp_path / "run"
    cfg = load_config(CONFIG, mt_overrides(tiny_model_dir, task_files, out, f"multitask.strategy={strategy}",
                                           f"multitask.shared_adapter={shared}", "multitask.sampling=size",
                                           "multitask.loss_weights={aml_alert: 2.0}"))
    results = train(cfg)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["mean_primary"] == pytest.approx(results["test"]["mean_primary"])
    assert set(saved["tasks"]) == {"credit_text", "transaction_memo", "aml_alert"}
    assert set(saved) == RUN_KEYS  # the shape of a one-task run's (test_training)
    from finrisk_nlp.config import task_data_config
    from finrisk_nlp.data.tables import load_splits

    for name, entry in saved["tasks"].items():
        _, splits = load_splits(task_data_config(cfg, name), get_task(name), cfg.seed)
        assert entry["test"]["num_examples"] == len(splits["test"])  # every example once
        assert entry["primary_metric"] == get_task(name).primary_metric
    assert saved["parameters"]["trainable"] < saved["parameters"]["total"]
    meta = json.loads((out / "model" / "finrisk_model.json").read_text())
    assert meta["multitask"]["strategy"] == strategy
    assert "threshold" in meta["multitask"]["tasks"]["aml_alert"]["extra"]

    predictor = Predictor.load(out, task="transaction_memo")
    assert predictor.task.labels == get_task("transaction_memo").labels
    assert predictor.predict(["card payment casino bet"])[0]["label"] in predictor.task.labels
    assert cli_main(["predict", "--task", "aml_alert", "--json", str(out), "cash deposits just below limit"]) == 0
    assert cli_main(["predict", str(out), "cash deposits"]) == 2  # no --task for a multi-task model

    registry = ModelRegistry(tmp_path / "registry")
    version = registry.publish(out, "multitask")
    monkeypatch.setenv("FINRISK_REGISTRY", str(registry.root))
    published = Predictor.load(f"registry:multitask@{version}", task="aml_alert")
    local = Predictor.load(out, task="aml_alert")
    texts = ["cash deposits just below limit", "salary payment from known employer"]
    torch.testing.assert_close(torch.from_numpy(published.predict_proba(texts)),
                               torch.from_numpy(local.predict_proba(texts)), atol=1e-6, rtol=0)

    # Exports: hard sharing is one encoder with every head; soft sharing one export per task in DIR/<task>/.
    from finrisk_nlp.export.exporter import export_model

    formats = ["merged", "onnx"] if importlib.util.find_spec("onnxruntime") else ["merged"]
    for fmt in formats:
        export_model(str(out), tmp_path / fmt, fmt=fmt)
        assert (tmp_path / fmt / "aml_alert").is_dir() == (strategy == "soft")
        for name in ("credit_text", "transaction_memo", "aml_alert"):
            exported = Predictor.load(tmp_path / fmt, task=name, backend="onnx" if fmt == "onnx" else "torch")
            torch.testing.assert_close(torch.from_numpy(exported.predict_proba(texts)),
                                       torch.from_numpy(Predictor.load(out, task=name).predict_proba(texts)),
                                       atol=1e-5, rtol=0)


def test_impossible_multitask_options_fail_early(tmp_path, tiny_model_dir, task_files):
    from finrisk_nlp.training.engine import train

    cfg = load_config(CONFIG, mt_overrides(tiny_model_dir, task_files, tmp_path / "run", "multitask.strategy=soft",
                                           "save_merged=true", "data.train_file=x.csv"))
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert "save_merged" in str(err.value) and "multitask.data.<task>" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_uneven_tasks_with_accumulation_step_only_on_full_windows(tmp_path, tiny_model_dir, task_files):
    """Task loaders of different lengths never cut an accumulation window short: every optimizer step takes
    exactly grad_accum_steps micro-batches, and each epoch is a whole number of steps."""
    from finrisk_nlp.training.engine import train

    out = tmp_path / "run"
    cfg = load_config(CONFIG, mt_overrides(tiny_model_dir, task_files, out, "train.grad_accum_steps=4"))
    results = train(cfg)
    sizes = {name: len(entry) for name, entry in _train_sizes(cfg).items()}
    batches = sum(-(-n // 4) for n in sizes.values())  # batch_size=4 documents per micro-batch, one process
    steps_per_epoch = -(-batches // 4)
    assert len(set(sizes.values())) > 1  # the tasks really are uneven
    assert results["optimizer_steps"] == 2 * steps_per_epoch
    assert results["micro_batches"] == 4 * results["optimizer_steps"]


def _train_sizes(cfg):
    from finrisk_nlp.data.tables import load_splits

    return {name: load_splits(task_data_config(cfg, name), get_task(name), cfg.seed)[1]["train"]
            for name in cfg.multitask.tasks}


def test_multitask_resume_equals_an_uninterrupted_run(tmp_path, tiny_model_dir, task_files):
    """Stopped after step 5 (checkpoints every 2 steps), resumed with train.resume=latest: the same final
    metrics and weights as a run that never stopped."""
    from finrisk_nlp.training.engine import train

    class Stop(Exception):
        pass

    def stop_after(step):
        def callback(state):
            if state.global_step == step:
                raise Stop
        return callback

    full = load_config(CONFIG, mt_overrides(tiny_model_dir, task_files, tmp_path / "full", "train.checkpoint_every=2",
                                            "eval.explain_examples=0", "multitask.strategy=soft"))
    reference = train(full)
    cut = load_config(CONFIG, mt_overrides(tiny_model_dir, task_files, tmp_path / "cut", "train.checkpoint_every=2",
                                           "eval.explain_examples=0", "multitask.strategy=soft"))
    with pytest.raises(Stop):
        train(cut, callbacks=[stop_after(5)])
    cut.train.resume = "latest"
    resumed = train(cut)
    assert resumed["optimizer_steps"] == reference["optimizer_steps"]
    for name in reference["tasks"]:
        scalars = {k: v for k, v in reference["tasks"][name]["test"].items() if isinstance(v, float)}
        assert {k: resumed["tasks"][name]["test"][k] for k in scalars} == pytest.approx(scalars, rel=1e-5, abs=1e-6)
    train_losses = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    resumed_losses = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    last = {r["step"]: r["loss"] for r in train_losses if r.get("event") == "train"}
    again = {r["step"]: r["loss"] for r in resumed_losses if r.get("event") == "train"}
    assert {s: again[s] for s in last if s > 5} == pytest.approx({s: last[s] for s in last if s > 5}, rel=1e-5)


@pytest.mark.e2e
def test_two_process_cpu_multitask(tmp_path, tiny_model_dir, task_files):
    out = tmp_path / "run"
    metrics = launch_two_cpu_processes(
        "multitask", [*mt_overrides(tiny_model_dir, task_files, out), "multitask.strategy=soft"], out, cwd=tmp_path
    )
    from finrisk_nlp.config import task_data_config
    from finrisk_nlp.data.tables import load_splits

    cfg = load_config(CONFIG, mt_overrides(tiny_model_dir, task_files, out))
    for name, entry in metrics["tasks"].items():
        _, splits = load_splits(task_data_config(cfg, name), get_task(name), cfg.seed)
        assert entry["test"]["num_examples"] == len(splits["test"])
    assert (out / "model" / "adapters" / "aml_alert" / "adapter_model.safetensors").is_file()
