"""Hyper-parameter search by measurement: each trial is one training run, scored on validation.

    finrisk tune --config recipes/configs/credit_text.yaml --trials 20 --out runs/tune
    finrisk tune --config recipes/configs/credit_text.yaml data.train_file=loans.csv --minutes 120 --out runs/tune

Optuna (the ``tune`` extra) proposes values from a search space (:mod:`finrisk_nlp.training.search_space`); each
trial trains ``config + overrides + proposed values`` with :func:`finrisk_nlp.training.engine.train` in a child
process (``python -m finrisk_nlp.training.tuning TRIAL_CONFIG``), so its memory is returned and a crash fails one
trial only. The seed is not searched, so every trial trains and selects on the same split. The study lives in
``OUT/study.journal``: the same command run again continues it up to the budget (``--trials`` counts every trial
of the study, ``--minutes`` the training time of every trial). Trials whose validation score lags the median of
earlier trials at the same epoch are stopped early. Results: ``OUT/best.yaml`` (a full recipe config that
``accelerate launch recipes/<task>.py --config OUT/best.yaml`` trains), ``OUT/trials.md`` (every trial) and
``OUT/trial-NNNN/`` (each trial's run directory, without checkpoints).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from finrisk_nlp.config import apply_overrides, config_from_dict, load_config, save_config
from finrisk_nlp.errors import ConfigError, FinriskError
from finrisk_nlp.provenance import write_text_atomic
from finrisk_nlp.training.search_space import base_params, check_search_space, suggest_values, to_override

logger = logging.getLogger("finrisk_nlp")
STUDY_NAME = "finrisk-tune"
# Trials score on validation only: no publishing, no explanation pass, no resuming another run's checkpoints.
TRIAL_OVERRIDES = ["registry.push=false", "registry.hub_repo=null", "eval.explain_examples=0", "train.resume=null",
                   "train.overwrite=true"]  # the trial folder already holds its config and log
POLL_SECONDS = 1.0


def selection_score(results: dict[str, Any]) -> float:
    """The validation score a run selected its model by: ``best_score``, else ``validation[primary_metric]``.

    Raises:
        FinriskError: when the results hold neither (e.g. the primary metric was undefined in every epoch).
    """
    score = results.get("best_score")
    if score is None:
        score = (results.get("validation") or {}).get(results.get("primary_metric", ""))
    if score is None:
        raise FinriskError(
            "the run's results have no selection score: expected 'best_score' or "
            f"validation[{results.get('primary_metric')!r}], found keys {sorted(results)}; check its train.log"
        )
    return float(score)


@dataclass
class TuneBudget:
    """When to stop: total trials of the study and/or total minutes of trial training (both across invocations)."""

    trials: int | None = None
    minutes: float | None = None

    def exhausted(self, finished: int, seconds: float) -> bool:
        return (self.trials is not None and finished >= self.trials) or (
            self.minutes is not None and seconds >= self.minutes * 60)


def read_validation_scores(metrics_log: Path, primary_metric: str, offset: int) -> tuple[list[tuple[int, float]], int]:
    """``(epoch, score)`` of the validation lines appended to ``metrics.jsonl`` since byte ``offset``."""
    if not metrics_log.is_file():
        return [], offset
    with metrics_log.open() as f:
        f.seek(offset)
        chunk = f.read()
    complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written is read on the next poll
    found = []
    for line in complete.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        value = record.get(f"validation/{primary_metric}")
        if record.get("event") == "validation" and isinstance(value, int | float):
            found.append((int(record.get("epoch", len(found))), float(value)))
    return found, offset + len(complete.encode())


def import_optuna() -> Any:
    """Optuna, or a :class:`FinriskError` that says how to install it."""
    try:
        import optuna
    except ImportError as exc:
        raise FinriskError("finrisk tune needs Optuna, which is not installed; install the tune extra: "
                           "pip install 'finrisk_nlp[tune]'") from exc
    return optuna


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send the trial SIGTERM when the tuner dies, even by SIGKILL (no ``finally``
    runs then); elsewhere None, and only the tuner's own handlers stop its trial."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the tuner died before the line above: nobody would send the signal
            os._exit(1)

    return arm


@contextlib.contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM (``kill``, a scheduler's stop) ends the tuner by exception, so the trial is stopped with it by the
    ``finally`` of :func:`run_trial` instead of training on as an orphan."""
    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave the handler alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def repair_journal(path: Path) -> None:
    """Make ``study.journal`` readable again after a crash tore its last record, or refuse it with the fix.

    Optuna appends one JSON record per line; a tuner killed mid-write leaves a last line without its end, and the
    next record would be appended onto it, breaking the study for good. Trailing lines that are not complete
    records are cut (the last complete record is kept, the cut bytes saved beside the journal, with a warning). A
    bad line followed by good ones cannot be cut without losing later records: that is refused with the fix.

    Raises:
        ConfigError: for a journal garbled before its end.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))  # the lock Optuna appends under: no record is half-written meanwhile
    lock.acquire()
    try:
        data = path.read_bytes()
        good_end, first_bad, later_good, number, start = 0, None, 0, 0, 0
        while start < len(data):
            end = data.find(b"\n", start)
            number += 1
            line = data[start:] if end < 0 else data[start:end]
            try:
                complete = end >= 0 and isinstance(json.loads(line), dict)
            except ValueError:  # JSON or UTF-8 errors
                complete = False
            if complete and first_bad is None:
                good_end = end + 1
            elif complete:
                later_good += 1
            elif first_bad is None:
                first_bad = number
            start = len(data) if end < 0 else end + 1
        if first_bad is None:
            return
        if later_good:
            raise ConfigError([
                f"{path} is garbled: line {first_bad} is not a complete record, but {later_good} record(s) follow "
                f"it, so it cannot be cut without losing them. Restore the journal from a backup, or keep the "
                f"records before it (later trials are lost) with `head -n {first_bad - 1} {path} > {path}.fixed && "
                f"mv {path}.fixed {path}`, or start a new study with another --out"])
        dropped = path.with_name(f"{path.name}.torn-{int(time.time())}")
        dropped.write_bytes(data[good_end:])
        with path.open("r+b") as f:
            f.truncate(good_end)
            os.fsync(f.fileno())
        logger.warning(f"{path}: its last {len(data) - good_end} byte(s) from line {first_bad} were not a complete "
                       f"record (a tuner killed while writing); cut, the study goes on from the last complete "
                       f"record. The cut bytes are in {dropped}")
    finally:
        lock.release()


def run_trial(trial: Any, config_path: Path, run_dir: Path, primary_metric: str) -> dict[str, Any]:
    """Train ``config_path`` in a child process; report each validation epoch to ``trial`` for pruning.

    Returns:
        The run's ``metrics.json``.

    Raises:
        optuna.TrialPruned: the trial was stopped early (its child process is terminated).
        FinriskError: the child failed; the message points to its log.
    """
    optuna = import_optuna()

    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log_path = run_dir / "train.log"
    offset = 0
    with log_path.open("w") as log:
        # A session of its own, so that stopping the trial also stops the processes it started.
        # It also dies with the tuner (see _die_with_parent), so a killed tuner leaves no trial training on.
        child = subprocess.Popen([sys.executable, "-m", "finrisk_nlp.training.tuning", str(config_path)],
                                 stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                 preexec_fn=_die_with_parent(os.getpid()))
        try:
            while child.poll() is None:
                time.sleep(POLL_SECONDS)
                scores, offset = read_validation_scores(run_dir / "metrics.jsonl", primary_metric, offset)
                for epoch, score in scores:
                    trial.report(score, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"validation {primary_metric} {score:.4f} after epoch {epoch}")
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait()
    if child.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-5:])
        raise FinriskError(f"training exited with code {child.returncode}; see {log_path}:\n{tail}")
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise FinriskError(f"training finished without writing {metrics_file}; see {log_path}")
    return json.loads(metrics_file.read_text())


def _open_study(out_dir: Path, setup: dict[str, Any], seed: int) -> Any:
    """Create ``OUT/study.journal`` or continue it; a journal started with another setup is refused."""
    optuna = import_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are logged here, with their overrides
    repair_journal(out_dir / "study.journal")
    storage = JournalStorage(JournalFileBackend(str(out_dir / "study.journal")))
    study = optuna.create_study(
        storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
    )
    before = study.user_attrs.get("setup")
    if before is None:
        study.set_user_attr("setup", setup)
    elif before != setup:
        changed = sorted(k for k in setup.keys() | before.keys() if setup.get(k) != before.get(k))
        raise ConfigError([
            f"{out_dir / 'study.journal'} belongs to a study with another {', '.join(changed)}; rerun it with the "
            f"same config, overrides and --space to continue it, or pass a new --out to start a new study"
        ])
    return study


def _fail_orphaned_trials(study: Any) -> None:
    """Mark as failed the running trials of this machine whose tuner process has died (a killed earlier run)."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tuner = t.user_attrs.get("tuner") or {}
        pid = tuner.get("pid")
        if tuner.get("host") != socket.gethostname() or pid is None:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            study.tell(t.number, state=TrialState.FAIL)
            logger.warning(f"trial {t.number} was interrupted by an earlier run; it counts as failed")
        except PermissionError:
            pass  # another user's live process


def _spent(study: Any) -> tuple[int, float]:
    from optuna.trial import TrialState

    finished = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    return len(finished), sum(float(t.user_attrs.get("seconds", 0.0)) for t in finished)


def tune(config: str | Path | None, overrides: list[str], out_dir: str | Path, budget: TuneBudget,
         space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run (or continue) the study in ``out_dir`` until ``budget`` is spent; write best.yaml and trials.md.

    Args:
        config: the recipe YAML the trials start from (None: the config defaults).
        overrides: ``key.sub=value`` strings applied before each trial's values (e.g. the user's data files).
        out_dir: the study directory.
        budget: the total trials and/or minutes of the study.
        space: the search space (see :mod:`finrisk_nlp.training.search_space`).

    Returns:
        ``{"best_trial", "best_score", "best_values", "trials"}``.
    """
    optuna = import_optuna()
    from optuna.trial import TrialState

    from finrisk_nlp.tasks import get_task

    out_dir = Path(out_dir)
    base = load_config(config, overrides)  # fails fast on a bad config before any trial
    raw = json.loads(json.dumps(base.to_dict()))
    check_search_space(space, raw)
    primary_metric = get_task(base.task).primary_metric
    out_dir.mkdir(parents=True, exist_ok=True)
    study = _open_study(out_dir, {"config": raw, "space": space}, base.seed)
    write_text_atomic(out_dir / "space.yaml", yaml.safe_dump(space, sort_keys=False))
    _fail_orphaned_trials(study)
    if not study.trials:
        start = base_params(space, base)
        if start is None:
            logger.info("the base config's values lie outside the search space; the study starts from Optuna's draws")
        else:
            study.enqueue_trial(start, user_attrs={"note": "base config"})
    while not budget.exhausted(*_spent(study)):
        trial = study.ask()
        trial.set_user_attr("tuner", {"pid": os.getpid(), "host": socket.gethostname()})
        run_dir = out_dir / f"trial-{trial.number:04d}"
        values = suggest_values(trial, space, base)
        trial.set_user_attr("values", values)
        started = time.perf_counter()
        state, score, note = TrialState.FAIL, None, ""
        try:
            shutil.rmtree(run_dir, ignore_errors=True)  # a number is reused only after a crashed journal write
            run_dir.mkdir(parents=True)
            cfg = config_from_dict(apply_overrides(json.loads(json.dumps(raw)), [
                *[to_override(k, v) for k, v in values.items()], *TRIAL_OVERRIDES, to_override("output_dir",
                                                                                               str(run_dir))]))
            save_config(cfg, run_dir / "trial_config.yaml")
            score = selection_score(run_trial(trial, run_dir / "trial_config.yaml", run_dir, primary_metric))
            state = TrialState.COMPLETE
        except FinriskError as exc:
            note = str(exc).splitlines()[0]
            logger.warning(f"trial {trial.number} failed: {exc}")
        except KeyboardInterrupt:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
            study.tell(trial, state=TrialState.FAIL)
            raise
        except optuna.TrialPruned as exc:
            state, note = TrialState.PRUNED, str(exc)
        finally:
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # model/ keeps the trial's best epoch
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        trial.set_user_attr("note", "; ".join(filter(None, [trial.user_attrs.get("note"), note])))
        if state == TrialState.COMPLETE:
            study.tell(trial, score)
        else:
            study.tell(trial, state=state)
        shown = "" if score is None else f" {primary_metric} {score:.4f}"
        logger.info(f"trial {trial.number} {state.name.lower()}{shown} in {trial.user_attrs['seconds']:.0f}s: "
                    + " ".join(to_override(k, v) for k, v in values.items()))
        write_text_atomic(out_dir / "trials.md", render_trials_markdown(study, space, primary_metric))
    write_text_atomic(out_dir / "trials.md", render_trials_markdown(study, space, primary_metric))
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        raise FinriskError(f"no trial of {out_dir} finished; see the train.log of each {out_dir}/trial-NNNN")
    best = study.best_trial
    write_best_config(out_dir / "best.yaml", raw, best, primary_metric)
    logger.info(f"best: trial {best.number}, validation {primary_metric} {best.value:.4f}; "
                f"train it with: accelerate launch recipes/{base.task}.py --config {out_dir / 'best.yaml'}")
    return {"best_trial": best.number, "best_score": best.value, "best_values": best.user_attrs["values"],
            "trials": len(study.trials)}


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value).replace("|", "\\|")


def render_trials_markdown(study: Any, space: dict[str, dict[str, Any]], primary_metric: str) -> str:
    """A markdown table of every trial of ``study``: state, validation score, seconds and the values it trained with.

    Args:
        study: an Optuna study run by :func:`finrisk_nlp.training.tuning.tune`.
        space: the search space; its keys are the value columns.
        primary_metric: the task's selection metric, named in the header.
    """
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.value is not None]
    best = max(done, key=lambda t: t.value) if done else None
    lines = [f"# Tuning: validation {primary_metric} per trial", ""]
    if best is not None:
        lines += [f"Best: trial {best.number}, {primary_metric} {best.value:.4f} (config in best.yaml). "
                  f"{len(trials)} trial(s), {sum(float(t.user_attrs.get('seconds', 0)) for t in trials) / 60:.1f} "
                  f"min of training. Updated {time.strftime('%Y-%m-%d %H:%M')}.", ""]
    keys = list(space)
    header = ["trial", "state", primary_metric, "seconds", *keys, "note"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---:|" * 4 + ":---|" * (len(keys) + 1)]
    for t in trials:
        values = t.user_attrs.get("values", {})
        score = "" if t.value is None else f"{t.value:.4f}" + (" **best**" if t is best else "")
        row = [str(t.number), t.state.name.lower(), score, f"{float(t.user_attrs.get('seconds', 0)):.0f}",
               *[_cell(values.get(k)) for k in keys], _cell(t.user_attrs.get("note", ""))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_best_config(path: Path, base: dict[str, Any], best: Any, primary_metric: str) -> None:
    """Write ``base`` plus the best trial's values as a full recipe config (validated before it is written).

    The base keeps its own ``output_dir`` and registry settings, so the file trains and publishes like the config
    the study started from.
    """
    values = best.user_attrs["values"]
    raw = apply_overrides(json.loads(json.dumps(base)), [to_override(k, v) for k, v in values.items()])
    cfg = config_from_dict(raw)
    header = (f"# Best of `finrisk tune`: trial {best.number}, validation {primary_metric} {best.value:.4f}.\n"
              f"# Tuned: {', '.join(to_override(k, v) for k, v in values.items())}\n"
              f"#   accelerate launch recipes/{cfg.task}.py --config {path}\n")
    write_text_atomic(path, header + yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _train_one(argv: list[str]) -> int:
    """Child-process entry of a trial: train the config file ``argv[0]``; exit code 2 for bad input."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    import transformers

    transformers.logging.set_verbosity_error()
    from finrisk_nlp.training.engine import train

    try:
        train(load_config(argv[0]))
    except FinriskError as exc:
        logger.error(str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_train_one(sys.argv[1:]))
