"""Fine-tune a classifier on your own labelled texts: any CSV/JSONL/Parquet table, binary or many classes.

    accelerate launch recipes/text_classifier.py data.train_file=tickets.csv data.text_column=body \
        data.label_column=queue
    accelerate launch recipes/text_classifier.py data.train_file=alerts.jsonl data.positive_label=escalate
    accelerate launch recipes/text_classifier.py data.train_file=memos.csv train.max_minutes=30   # time budget

Window length and count, batch size, learning rate and class weights are chosen from the training data unless
you set them (printed at the start with the reason); training runs until validation macro-F1 stops improving
(``train.epochs: auto``) and prints its epoch curve and why it stopped at the end.
"""

import sys

from finrisk_nlp.cli.recipe import recipe_config, run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe(sys.argv[1:], default_config=recipe_config(__file__, "text_classifier"), fit_to_data=True))
