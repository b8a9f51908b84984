"""Developer tools that are not part of the installed package (the wheel ships only ``finrisk_nlp``)."""
