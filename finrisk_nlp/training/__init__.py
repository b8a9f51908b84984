"""The training engine (:mod:`finrisk_nlp.training.engine`) and what it is built from."""
