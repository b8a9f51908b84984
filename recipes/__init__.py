raise ModuleNotFoundError(
    "recipes are scripts, not a package: run them with `accelerate launch recipes/<name>.py`; "
    "reusable code lives in finrisk_nlp"
)
