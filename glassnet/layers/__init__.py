"""Layers: every building block of a network, each a forward pass and its backward."""
from .. import serialization
from .activations import (ELU, GELU, SELU, Activation, LeakyReLU, Linear, ReLU, Sigmoid, Softmax,
                          Softplus, Swish, Tanh)
from .base import Layer
from .conv import Conv1D, Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .merge import Add, Average, Concatenate, Maximum, Merge, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      MaxPooling1D, MaxPooling2D)
from ..graph import Input
from .reshape import Flatten, Reshape

SiLU = Swish

__all__ = ["Layer", "Activation", "Dense", "Dropout", "Embedding", "Flatten", "Input", "Linear", "ReLU",
           "LeakyReLU", "ELU", "SELU", "GELU", "Sigmoid", "Tanh", "Softmax", "Softplus", "Swish",
           "SiLU", "BatchNormalization", "LayerNormalization", "Reshape", "Merge", "Add", "Subtract", "Multiply",
           "Average", "Maximum", "Minimum", "Concatenate", "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D",
           "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "serialize",
           "deserialize"]

LAYERS = {cls.__name__.lower(): cls for cls in (
    Dense, Dropout, Embedding, Flatten, Reshape, Activation, Linear, ReLU, LeakyReLU, ELU, SELU, GELU, Sigmoid,
    Tanh, Softmax, Softplus, Swish, BatchNormalization, LayerNormalization, Add, Subtract, Multiply, Average,
    Maximum, Minimum, Concatenate, Conv1D, Conv2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
    GlobalAveragePooling1D, GlobalAveragePooling2D)}


def serialize(layer):
    """``{"class_name": ..., "config": ...}``: JSON that ``deserialize`` turns back into the layer."""
    return serialization.serialize(layer)


def deserialize(spec):
    """Make a new, unbuilt layer from ``serialize``'s output; only glassnet's layers are allowed."""
    return serialization.deserialize(spec, LAYERS.values(), "layer")
