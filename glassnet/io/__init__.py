"""Files: the model file format (safetensors + JSON fields) and atomic writes."""
from .model_file import load, save

__all__ = ["load", "save"]
