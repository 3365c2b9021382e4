"""Files: model files (safetensors + JSON metadata), written atomically."""
from .model_file import load, save

__all__ = ["load", "save"]
