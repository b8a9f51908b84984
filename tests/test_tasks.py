import pytest

from finrisk_nlp.errors import ConfigError
from finrisk_nlp.tasks import Task, get_task, list_tasks, register_task, with_overrides


def test_shipped_tasks_have_meaningful_labels():
    assert {"credit_text", "transaction_memo", "aml_alert", "aml_typology"} <= set(list_tasks())
    credit = get_task("credit_text")
    assert credit.labels == ("repaid", "default") and credit.positive_index == 1 and credit.is_binary
    assert get_task("aml_typology").multi_label


def test_registry_refuses_duplicates_and_bad_names():
    with pytest.raises(ValueError, match="already registered"):
        register_task(Task("credit_text", "text", "outcome", ("a", "b")))
    with pytest.raises(ValueError, match="lower case"):
        register_task(Task("Credit Text", "text", "outcome", ("a", "b")))
    with pytest.raises(ConfigError, match="registered tasks are"):
        get_task("nope")


def test_task_validation():
    with pytest.raises(ValueError, match="at least 2 labels"):
        Task("x", "text", "label", ("only",))
    with pytest.raises(ValueError, match="positive_label 'z'"):
        Task("x", "text", "label", ("a", "b"), positive_label="z")


def test_overrides_drop_a_positive_label_that_no_longer_exists():
    task = with_overrides(get_task("credit_text"), label_column="status", labels=["bad", "good"])
    assert task.label_column == "status" and task.labels == ("bad", "good") and task.positive_label is None
    assert with_overrides(task, positive_label="bad").positive_index == 0
