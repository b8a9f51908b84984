"""The package version, written once: the wheel, `finrisk_nlp.__version__`, run and release records read it.

A ground-floor module: every layer imports it from here, never from the package face ``finrisk_nlp``.
"""

from __future__ import annotations

__version__ = "0.2.0"
