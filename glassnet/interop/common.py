"""What the PyTorch and Keras converters share: refusing by name, and copying weights exactly."""
import numpy as np

from ..errors import ConfigurationError, ShapeError


def refuse(where, reason):
    """The ConfigurationError of a layer (``where`` names it) that cannot be converted."""
    return ConfigurationError(f"cannot convert {where}: {reason}")


def shape_text(shape):
    """A per-example shape with its batch axis, as the frameworks print it: ``(None, 4)``."""
    return "(None, " + ", ".join(map(str, shape)) + ")"


def set_weights(layer, arrays, where):
    """Copy ``{parameter attribute: array}`` into a built glassnet ``layer``, exactly (the same
    dtype in and out; a float64 array into a float32 model would be rounded, so it is refused)."""
    for attribute, array in arrays.items():
        parameter = getattr(layer, attribute)
        array = np.asarray(array)
        if array.shape != parameter.shape:
            raise ShapeError(f"{where}: {attribute} has shape {array.shape}, glassnet's layer expects "
                             f"{parameter.shape}")
        if array.dtype != parameter.value.dtype:
            raise refuse(where, f"its {attribute} is {array.dtype}, the glassnet model {parameter.value.dtype}: "
                                "weights are copied without rounding, so both must have one float dtype")
        parameter.value[...] = array


def checked_dtype(dtypes, where):
    """The one float dtype (float32 or float64) of a network's weights, from the set ``dtypes``."""
    names = {np.dtype(d).name for d in dtypes}
    if not names:
        return "float32"
    if len(names) > 1 or names - {"float32", "float64"}:
        raise ConfigurationError(f"cannot convert {where}: its weights are {', '.join(sorted(names))}; glassnet "
                                 "models hold float32 or float64 weights, one dtype for the whole model")
    return names.pop()
