"""The `finrisk` command itself: what it prints before any subcommand runs."""

import pytest


def test_version_prints_one_line_with_the_libraries_a_bug_report_needs(capsys):
    from importlib.metadata import version

    from finrisk_nlp import __version__
    from finrisk_nlp.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"finrisk_nlp {__version__} (")
    for name in ("torch", "transformers", "peft", "accelerate", "datasets"):
        assert f"{name} {version(name)}" in out
