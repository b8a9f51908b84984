"""The text + fields recipes (credit_application, aml_alert_kyc) name the field columns of the shipped demo data."""

import pytest
from conftest import REPO

from finrisk_nlp.config import load_config
from finrisk_nlp.data.demo import load_demo
from tools.demo_data.aml_fields import AML_CATEGORICAL_FIELDS, AML_FIELDS
from tools.demo_data.credit_fields import CREDIT_CATEGORICAL_FIELDS, CREDIT_FIELDS

FIELDS = {"credit_text": (CREDIT_FIELDS, CREDIT_CATEGORICAL_FIELDS), "aml_alert": (AML_FIELDS, AML_CATEGORICAL_FIELDS)}


@pytest.mark.parametrize(("recipe", "task"), [("credit_application", "credit_text"), ("aml_alert_kyc", "aml_alert")])
def test_field_recipes_name_the_demo_field_columns(recipe, task):
    cfg = load_config(REPO / "recipes" / "configs" / f"{recipe}.yaml")
    assert cfg.task == task
    assert (REPO / "recipes" / f"{recipe}.py").is_file()
    columns, categorical = FIELDS[task]
    side = ["channel"] if task == "credit_text" else []  # the lender knows the application channel
    assert cfg.data.feature_columns == [*columns, *side]
    rows = load_demo(task)
    assert all(name in rows[0] for name in cfg.data.feature_columns)
    # categorical_columns is null: the model infers them from the values, which must give the intended ones
    inferred = [c for c in cfg.data.feature_columns if any(isinstance(r[c], str) for r in rows)]
    assert cfg.data.categorical_columns is None and inferred == [*categorical, *side]
