"""Moving a network between glassnet, PyTorch and Keras 3: the same layers and the same weights.

    from glassnet import interop

    net = interop.to_torch(model)              # gn.Sequential -> torch.nn.Sequential (eval mode)
    model = interop.from_torch(net, seed=0)    # and back
    keras_model = interop.to_keras(model)      # gn.Sequential / gn.Model -> keras.Sequential / functional
    model = interop.from_keras(keras_model)    # and back

Covered layers, each direction (``torch.py`` and ``keras.py`` beside this file say how each maps):

    glassnet                   PyTorch (nn.Sequential)                 Keras 3 (Sequential, functional)
    Input                      input_shape= (or the first in_features) keras.Input
    Dense                      Linear (weight transposed) + activation Dense
    ReLU, LeakyReLU, ELU,      ReLU, LeakyReLU, ELU, SELU,             ReLU, LeakyReLU, ELU, Softmax;
    SELU, GELU (exact, tanh),  GELU ("none", "tanh"), Sigmoid, Tanh,   Activation(name) for the others
    Sigmoid, Tanh, Softmax,    Softmax, Softplus, SiLU, Identity       (no tanh-approximated GELU)
    Softplus, Swish, Linear,
    Activation(name)
    Dropout, Flatten, Reshape  Dropout, Flatten, Unflatten             Dropout, Flatten, Reshape
    BatchNormalization         BatchNorm1d (momentum 1 - m)            BatchNormalization
    LayerNormalization         LayerNorm                               LayerNormalization
    Embedding                  Embedding                               Embedding
    Conv1D, Conv2D             Conv1d, Conv2d (channels first)         Conv1D, Conv2D
    MaxPooling1D/2D,           MaxPool1d/2d, AvgPool1d/2d,             the same
    AveragePooling1D/2D,       AdaptiveAvgPool1d/2d(1)
    GlobalAveragePooling1D/2D
    Add, Subtract, Multiply,   (graph models only: refused)            the same
    Average, Maximum, Minimum,
    Concatenate

A network of convolutions moves to PyTorch channels-first (``torch.py`` says how). Weights are
copied without rounding, so a converted network predicts what the original does up to the
rounding of float32 arithmetic (``tests/test_interop.py`` measures it layer by layer). Anything
without a counterpart (a layer class, an option such as a Keras kernel constraint or PyTorch's
``padding_idx``) is a ConfigurationError naming the layer and what is missing. Only weights and
architecture move: compile the result as usual (``docs/course/frameworks.md`` gives the optimizer
settings under which the three frameworks train to the same weights).

PyTorch and Keras are optional (``pip install "glassnet[torch]"``, ``"glassnet[keras]"``) and
imported only inside these functions.
"""
from .keras import from_keras, to_keras
from .torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch", "from_keras", "to_keras"]
