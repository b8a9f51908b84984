"""LoRA fine-tune a BERT classifier on AML alert narratives: escalate or close the alert.

    accelerate launch recipes/aml_alert.py                                            # defaults: MiniLM + demo data
    accelerate launch recipes/aml_alert.py threshold.target=precision_at_recall=0.95  # catch 95% of escalations
    accelerate launch recipes/aml_alert.py model.max_chunks=16 model.chunk_aggregation=mean  # long narratives
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/aml_alert.py cpu=true  # 2 CPU procs
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "aml_alert")))
