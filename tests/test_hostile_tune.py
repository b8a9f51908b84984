"""Hostile tuning: a torn or garbled study journal, and a tuner killed while its trial trains. Each test fails on
code without the matching guard."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, tiny_overrides

from finrisk_nlp.cli.main import main as cli_main
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.training.tuning import repair_journal

optuna = pytest.importorskip("optuna")
CONFIG = REPO / "recipes" / "configs" / "credit_text.yaml"


def _study(journal: Path):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return optuna.create_study(storage=storage, study_name="s", load_if_exists=True, direction="maximize")


def _journal_with_trials(tmp_path: Path, n: int = 3) -> Path:
    journal = tmp_path / "study.journal"
    study = _study(journal)
    for i in range(n):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, float(i))
    return journal


def test_a_torn_last_record_is_cut_and_the_study_goes_on(tmp_path, caplog):
    """On code without the repair the next record was glued onto the torn line and the study never loaded again."""
    journal = _journal_with_trials(tmp_path)
    with journal.open("ab") as f:
        f.write(b'{"op_code": 4, "worker_id": "x", "trial_id": 3, "pa')  # the tuner died mid-write
    with caplog.at_level(logging.WARNING):
        repair_journal(journal)
    assert "were not a complete record" in caplog.text
    study = _study(journal)
    trial = study.ask()
    study.tell(trial, 9.0)
    assert [t.value for t in _study(journal).trials] == [0.0, 1.0, 2.0, 9.0]
    assert list(tmp_path.glob("study.journal.torn-*"))


def test_a_torn_record_glued_to_the_next_one_is_cut(tmp_path):
    """What the released code left behind: a record appended onto a torn line, the last line of the file."""
    journal = _journal_with_trials(tmp_path)
    with journal.open("ab") as f:
        f.write(b'{"op_code": 4, "wor{"op_code": 5, "worker_id": "y"}\n')
    broken = tmp_path / "copy.journal"
    broken.write_bytes(journal.read_bytes() + b'{"op_code": 0}\n')  # one more record, unrepaired
    with pytest.raises(ValueError):
        list(optuna.storages.journal.JournalFileBackend(str(broken)).read_logs(0))
    repair_journal(journal)
    study = _study(journal)
    study.tell(study.ask(), 5.0)
    assert [t.value for t in _study(journal).trials] == [0.0, 1.0, 2.0, 5.0]


def test_a_journal_garbled_in_the_middle_is_refused_with_the_fix(tmp_path, caplog):
    journal = _journal_with_trials(tmp_path)
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"\xff\xfe garbage"
    journal.write_bytes(b"\n".join(lines))
    before = journal.read_bytes()
    with pytest.raises(ConfigError, match=r"line 3 is not a complete record, but \d+ record\(s\) follow it.*head -n 2"):
        repair_journal(journal)
    assert journal.read_bytes() == before  # nothing cut
    out = tmp_path
    assert cli_main(["tune", "--config", str(CONFIG), "--out", str(out), "--trials", "1"]) == 2
    assert "is garbled" in caplog.text and "Traceback" not in caplog.text


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the parent-death signal is Linux's")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_the_tuner_kills_its_trial(how, tmp_path, tiny_model_dir, credit_file):
    """On code without the guard the trial trained on as an orphan, writing checkpoints."""
    overrides = [o for o in tiny_overrides(tiny_model_dir, credit_file, tmp_path / "final") if "epochs" not in o]
    tuner = subprocess.Popen(
        [sys.executable, "-m", "finrisk_nlp.cli.main", "tune", "--config", str(CONFIG), "--out", str(tmp_path / "s"),
         "--trials", "1", *overrides, "train.epochs=200", "train.early_stopping_patience=null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    trials: list[int] = []
    try:
        deadline = time.time() + 240
        while not trials and time.time() < deadline and tuner.poll() is None:
            time.sleep(0.5)
            trials = _children_of(tuner.pid)
        assert trials, "the tuner started no trial"
        os.kill(tuner.pid, how)
        tuner.wait(timeout=60)
        deadline = time.time() + 60
        while any(_alive(p) for p in trials) and time.time() < deadline:
            time.sleep(0.5)
        assert not any(_alive(p) for p in trials), "the trial outlived its tuner"
    finally:
        for pid in [tuner.pid, *trials]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
