"""Helpers shared by the benchmark scripts: data and recipe locations, markdown tables, machine description.

Imported by ``python benchmarks/quality.py`` and ``python benchmarks/train_throughput.py`` (run as scripts,
so this module is found next to them).
"""

from __future__ import annotations

import importlib
import os
import platform
import resource
import sys
from pathlib import Path
from types import ModuleType

import torch

import finrisk_nlp
from finrisk_nlp.config import EMBEDDED_MODEL, RecipeConfig, load_config
from finrisk_nlp.provenance import write_text_atomic
from finrisk_nlp.training.accelerator import available_cpu_cores

REPO = Path(__file__).resolve().parent.parent
RECIPE_CONFIGS = REPO / "recipes" / "configs"
DEFAULT_DATA_DIR = Path(finrisk_nlp.__file__).resolve().parent / "data" / "demo"
# Used only when a task has no recipe YAML of its own: short memos need few tokens, AML notes more.
FALLBACK_MAX_LENGTH = {"credit_text": 128, "transaction_memo": 48, "aml_alert": 128}


def demo_generator() -> ModuleType:
    """``tools.demo_data.generate`` from the repository: the demo generators are not part of the installed package."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module("tools.demo_data.generate")


def data_file(data_dir: Path, task: str) -> Path:
    """``DATA_DIR/<task>.jsonl``; exits with a readable message when it is missing."""
    path = Path(data_dir) / f"{task}.jsonl"
    if not path.is_file():
        sys.exit(f"error: {path} not found; pass --data-dir with a directory holding {task}.jsonl "
                 f"(the shipped demo data lives in {DEFAULT_DATA_DIR})")
    return path


def recipe_config(task: str, overrides: list[str]) -> RecipeConfig:
    """The task's shipped recipe config plus ``overrides``; built from the credit recipe if the task has none."""
    own = RECIPE_CONFIGS / f"{task}.yaml"
    if own.is_file():
        return load_config(own, overrides)
    fallback = [f"task={task}", f"model.max_length={FALLBACK_MAX_LENGTH.get(task, 128)}"]
    return load_config(RECIPE_CONFIGS / "credit_text.yaml", fallback + overrides)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table; the first column is left-aligned, the others right-aligned."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines) + "\n"


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def machine_description() -> str:
    """CPU model and core count, or the GPU name, plus library versions: one line for a results header."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = available_cpu_cores()
    device = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    import transformers

    return (f"{cpu}, {cores} cores, {device}; torch {torch.__version__}, transformers {transformers.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux ``/proc/self/statm``; elsewhere the peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak_rss_mb()
    return pages * resource.getpagesize() / (1 << 20)


def load_average() -> str:
    """The 1/5/15-minute load averages, for a results header (timings on a shared machine are noisy)."""
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def model_name(name_or_path: str) -> str:
    return EMBEDDED_MODEL if name_or_path == EMBEDDED_MODEL else Path(name_or_path).name


def emit(text: str, out: str | None) -> None:
    """Print ``text`` and, with ``--out``, write it atomically to that file."""
    print(text)
    if out:
        write_text_atomic(out, text)
        print(f"written to {out}")
