"""The training engine: one loop for one or many tasks (``accelerate launch recipes/credit_text.py``)."""

from finrisk_nlp.training.engine import train

__all__ = ["train"]
