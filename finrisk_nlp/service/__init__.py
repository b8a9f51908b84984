"""The REST service: ``finrisk serve MODEL_REF [--port 8000] [--backend onnx] [--precision int8]``.

The FastAPI app and its request batcher (:mod:`.rest`) and the HTTP guards on uvicorn (:mod:`.http_guard`).
"""
