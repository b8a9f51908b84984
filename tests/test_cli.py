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
