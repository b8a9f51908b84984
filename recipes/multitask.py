"""LoRA fine-tune one encoder on three risk tasks at once: credit_text, transaction_memo and aml_alert.

    accelerate launch recipes/multitask.py                                            # hard sharing, demo data
    accelerate launch recipes/multitask.py multitask.strategy=soft                    # one adapter per task
    accelerate launch recipes/multitask.py multitask.sampling=size 'multitask.loss_weights={aml_alert: 2.0}'
    accelerate launch recipes/multitask.py multitask.data.aml_alert.train_file=my_alerts.csv
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/multitask.py cpu=true  # 2 CPU procs
    finrisk predict runs/multitask --task aml_alert "text"                            # use one task
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "multitask")))
