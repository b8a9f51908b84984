"""Score document archives on several processes; the arguments are those of ``finrisk score``.

    accelerate launch recipes/batch_score.py runs/credit_text docs/ mail.zip --out scores.parquet
    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/batch_score.py \\
        runs/credit_text 'archive/**/*.txt' --out scores.parquet --cpu                    # 2 CPU processes
    python recipes/batch_score.py runs/credit_text docs/ --out scores.parquet --engine ray \\
        [--ray-address ray://head:10001]              # Ray Data readers + model actors (one driver process)
"""

import sys

from finrisk_nlp.cli.score import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
