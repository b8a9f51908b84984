"""LoRA fine-tune a BERT classifier on card/bank transaction memos (8 spending categories, incl. gambling, crypto).

    accelerate launch recipes/transaction_memo.py                                     # defaults: MiniLM + demo data
    accelerate launch recipes/transaction_memo.py loss.class_weights=auto             # rare categories count more
    accelerate launch recipes/transaction_memo.py data.train_file=my_memos.csv data.text_column=memo
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/transaction_memo.py cpu=true  # 2 CPU procs
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "transaction_memo")))
