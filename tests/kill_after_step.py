"""Run the credit recipe and SIGKILL this process right after optimizer step N, as a crash would:
``python tests/kill_after_step.py N key=value ...`` (used to prove that ``train.resume=latest`` recovers)."""

import os
import signal
import sys
from pathlib import Path

from finrisk_nlp.cli.recipe import setup_logging
from finrisk_nlp.config import parse_cli
from finrisk_nlp.training.engine import train

if __name__ == "__main__":
    step = int(sys.argv[1])
    setup_logging()
    cfg = parse_cli(sys.argv[2:], default_config=Path(__file__).resolve().parent.parent / "recipes" / "configs"
                    / "credit_text.yaml")

    def kill(state):
        if state.global_step == step:
            os.kill(os.getpid(), signal.SIGKILL)

    train(cfg, callbacks=[kill])
