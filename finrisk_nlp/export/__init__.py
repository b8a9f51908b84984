"""``finrisk export MODEL --format merged|onnx|hf [--quantize int8] --out DIR``: a trained model in a deployable
format, parity-checked (:mod:`.exporter`, :mod:`.formats`), with an int8 graph only when it passes the quality gate
(:mod:`.int8_gate`).
"""
