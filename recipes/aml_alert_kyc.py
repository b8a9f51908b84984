"""LoRA fine-tune a BERT classifier on AML alerts: the investigator's note and the KYC / monitoring fields together.

    accelerate launch recipes/aml_alert_kyc.py                                       # MiniLM + demo data with fields
    accelerate launch recipes/aml_alert_kyc.py threshold.target=f1 model.fusion=gated
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "aml_alert_kyc")))
