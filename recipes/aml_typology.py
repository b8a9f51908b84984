"""LoRA fine-tune a multi-label BERT classifier on AML alert narratives: which money-laundering typologies
(structuring, layering, trade_based, sanctions) does an alert show? One tuned threshold per typology.

    accelerate launch recipes/aml_typology.py                                         # defaults: MiniLM + demo data
    accelerate launch recipes/aml_typology.py threshold.target=recall_at_precision=0.8
    accelerate launch recipes/aml_typology.py data.train_file=my_alerts.jsonl data.label_column=typologies
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/aml_typology.py cpu=true  # 2 CPU procs
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "aml_typology")))
