"""`benchmarks/multitask_vs_single.py --quick` runs end to end on the tiny model and prints the full table."""

from __future__ import annotations

import importlib.util

from conftest import REPO


def test_quick_benchmark_prints_every_configuration(tmp_path, tiny_model_dir, capsys):
    spec = importlib.util.spec_from_file_location("multitask_vs_single", REPO / "benchmarks" / "multitask_vs_single.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--model", str(tiny_model_dir), "--max-length", "32",
                       "--work-dir", str(tmp_path / "work")]) == 0
    # training prints its epoch summaries on stdout too; the table is the lines of the markdown table
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert len(table) == 8
    names = [line.split("|")[1].strip() for line in table[2:]]
    assert names == ["single-task credit_text", "single-task transaction_memo", "single-task aml_alert",
                     "3 single-task models together", "multi-task, hard sharing", "multi-task, soft sharing"]
    for line in table[2:]:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        assert int(cells[-2].replace(",", "")) > 0 and float(cells[-1]) >= 0
    multitask = [c.strip() for c in table[-1].split("|")[1:-1]]
    assert all(cell for cell in multitask[1:4])  # a score for every task
    assert (tmp_path / "work" / "multitask-soft" / "model" / "finrisk_model.json").is_file()
