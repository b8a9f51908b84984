"""LoRA fine-tune a BERT classifier on loan application narratives (repaid vs default).

    accelerate launch recipes/credit_text.py                                          # defaults: MiniLM + demo data
    accelerate launch recipes/credit_text.py train.epochs=1 lora.r=4                  # overrides
    accelerate launch recipes/credit_text.py data.train_file=my_loans.csv \\
        data.text_column=narrative data.label_column=status                           # your own CSV
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/credit_text.py cpu=true  # 2 CPU procs
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "credit_text")))
