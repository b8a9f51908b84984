"""One trained model used for inference: ``finrisk predict``, and what ``finrisk score|serve|export`` load.

:class:`~finrisk_nlp.inference.predictor.Predictor` over a :class:`~finrisk_nlp.inference.document_model.DocumentModel`
(PyTorch or onnxruntime), loading (:mod:`.loading`), reduced precision and its quality gate. Needs no training code.
"""
