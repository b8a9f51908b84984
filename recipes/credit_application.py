"""LoRA fine-tune a BERT classifier on loan applications: the narrative and the lender's fields in one model.

    accelerate launch recipes/credit_application.py                                  # MiniLM + demo data with fields
    accelerate launch recipes/credit_application.py model.fusion=gated model.field_dropout=0.1
    accelerate launch recipes/credit_application.py data.train_file=my_loans.csv \\
        data.feature_columns=[annual_income,loan_amount,term_months]                 # your own CSV and fields
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "credit_application")))
