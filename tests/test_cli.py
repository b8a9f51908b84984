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


@pytest.mark.parametrize("argv, key, expected", [
    (["predict", "run", "--json", "missed two payments"], "texts", ["missed two payments"]),
    (["predict", "run", "first", "--json", "second", "third"], "texts", ["first", "second", "third"]),
    (["explain", "run", "--top-k", "3", "missed two payments"], "texts", ["missed two payments"]),
    (["train", "train.epochs=1", "--config", "c.yaml", "lora.r=4"], "overrides", ["train.epochs=1", "lora.r=4"]),
    (["validate", "--config", "c.yaml", "train.epochs=1"], "overrides", ["train.epochs=1"]),
    (["tune", "--out", "study", "lora.r=4", "--trials", "2", "train.lr=1e-3"], "overrides",
     ["lora.r=4", "train.lr=1e-3"]),
])
def test_texts_and_overrides_may_follow_an_option(argv, key, expected):
    from finrisk_nlp.cli.main import parse_args

    assert getattr(parse_args(argv), key) == expected


def test_an_unknown_option_is_still_refused(capsys):
    from finrisk_nlp.cli.main import parse_args

    with pytest.raises(SystemExit) as done:
        parse_args(["predict", "run", "--jsn", "text"])
    assert done.value.code == 2 and "unrecognized arguments: --jsn text" in capsys.readouterr().err


def test_predict_says_which_threshold_its_decisions_apply(trained_run, capsys, caplog):
    from finrisk_nlp.cli.main import main
    from finrisk_nlp.inference.predictor import Predictor

    caplog.set_level("INFO", logger="finrisk_nlp")
    assert main(["predict", str(trained_run), "missed two payments", "steady salary for years"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("default=" in line for line in lines)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decision: default when")]
    assert len(said) == 1 and "the operating threshold tuned on validation" in said[0]
    threshold = float(said[0].split(">= ")[1].split(",")[0])
    assert threshold == pytest.approx(Predictor.load(trained_run).positive_threshold, abs=5e-4)
    caplog.clear()
    assert main(["predict", str(trained_run), "--json", "missed two payments"]) == 0  # JSON output: nothing extra
    assert not [r for r in caplog.records if r.getMessage().startswith("decision:")]
