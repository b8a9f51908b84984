"""The wheel is all a user needs: built, installed into a fresh venv and used from a directory outside the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, make_credit_records, write_jsonl


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    import shutil

    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the tracked files: an in-tree build would leave build/ and *.egg-info in the repo.
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    source = out / "source"
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_symlink():
            target.symlink_to(os.readlink(REPO / name))
        elif (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(source)], capture_output=True, text=True, timeout=600, cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("finrisk_nlp-*.whl")
    return built


@pytest.mark.e2e
def test_wheel_ships_configs_demo_data_and_hub_code(wheel):
    from finrisk_nlp import __version__

    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"finrisk_nlp-{__version__}" in wheel.name  # the version comes from finrisk_nlp/version.py only
    for config in (REPO / "recipes" / "configs").glob("*.yaml"):
        assert f"finrisk_nlp/recipe_configs/{config.name}" in names
    assert {"finrisk_nlp/data/demo/credit_text.jsonl", "finrisk_nlp/modeling/hub_code/modeling_finrisk.py",
            "finrisk_nlp/modeling/hub_code/pipeline_finrisk.py"} <= names
    assert not any(name.startswith(("tests/", "recipes/", "tools/")) for name in names)
    demo_code = {n for n in names if n.startswith("finrisk_nlp/data/demo/") and n.endswith(".py")}
    assert demo_code == {"finrisk_nlp/data/demo/__init__.py"}  # the generators stay in the repository (tools/)


@pytest.mark.e2e
def test_installed_wheel_trains_and_predicts_from_any_directory(wheel, tmp_path, tiny_model_dir):
    """A fresh venv that sees the shared venv's libraries (torch etc.) but not the repo: train 3 steps, predict."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # --ignore-installed: pip must neither skip nor uninstall the shared venv's editable finrisk_nlp.
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--ignore-installed", "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    # Then the libraries from the shared venv (no downloads, no unpinned torch); a path line does not activate its
    # editable finrisk_nlp, and the wheel's copy comes first on sys.path.
    (site / "shared_libs.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    data = write_jsonl(work / "loans.jsonl", make_credit_records(24))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    finrisk = [str(python), "-m", "finrisk_nlp.cli.main"]
    where = subprocess.run([str(python), "-c", "import finrisk_nlp; print(finrisk_nlp.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv))
    train = subprocess.run([*finrisk, "train", "--task", "credit_text", f"model.name_or_path={tiny_model_dir}",
                            f"data.train_file={data.name}", "output_dir=runs/credit", "cpu=true", "train.max_steps=3",
                            "train.batch_size=4", "model.max_length=32", "model.stride=8", "lora.r=4",
                            "data.dedup=warn", "data.min_examples_per_class=2", "eval.explain_examples=0"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert train.returncode == 0, train.stderr[-3000:]
    assert json.loads((work / "runs" / "credit" / "metrics.json").read_text())["optimizer_steps"] == 3
    predict = subprocess.run([*finrisk, "predict", "--json", "runs/credit", "missed payments, lost job."],
                             cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert predict.returncode == 0, predict.stderr[-3000:]
    row = json.loads(predict.stdout.strip().splitlines()[-1])
    assert set(row["probabilities"]) == {"repaid", "default"} and row["decision"] in ("repaid", "default")


def test_train_task_names_a_packaged_config_and_an_unknown_one_exits_2(caplog):
    from finrisk_nlp.cli.main import build_parser, main
    from finrisk_nlp.cli.recipe import packaged_config

    assert packaged_config("aml_alert").read_text() == (REPO / "recipes" / "configs" / "aml_alert.yaml").read_text()
    assert build_parser().parse_args(["train", "--task", "aml_alert"]).task == "aml_alert"
    assert main(["train", "--task", "credit_txt"]) == 2
    err = caplog.text
    assert "no recipe config for task 'credit_txt': the shipped ones are ['aml_alert'" in err
