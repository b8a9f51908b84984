"""``python -m tools.demo_data.generate``: the generators of the synthetic demo data.

The JSONL files they write ship in :mod:`finrisk_nlp.data.demo`, which is all the package needs at run time
(:func:`finrisk_nlp.data.demo.demo_path`); ``make data`` regenerates them byte for byte.
"""
