"""Encoders and document heads: build a fresh model, save it, load it by local directory."""

from finrisk_nlp.modeling.build import build_model, count_parameters, resolve_model_path
from finrisk_nlp.modeling.classifier import DocumentClassifier
from finrisk_nlp.modeling.saving import METADATA_FILE, ModelMetadata, load_model, save_model

__all__ = ["METADATA_FILE", "DocumentClassifier", "ModelMetadata", "build_model", "count_parameters", "load_model",
           "resolve_model_path", "save_model"]
