"""What the two ways of computing a convolution (``conv.py``'s im2col, ``winograd.py``) share in
their backward over slices of the batch, each thread with its own slices."""
import numpy as np

from .. import layer_kernels


class OutputGradient:
    """One thread's part of a convolution's backward over its slices of the batch: each slice's
    ``dY`` (times ``y > 0`` when the layer's ReLU runs inside it), and the running sum of its
    rows, the bias gradient ``db = 1^T dY`` (BLAS's matrix-vector product: about 4x faster than
    NumPy's reduction down the rows of a matrix with few columns)."""

    def __init__(self, bias, dz_matrix, rows, relu):
        self.bias, self.relu = bias, relu
        self.sum = np.zeros(dz_matrix.shape[1], dz_matrix.dtype) if bias is not None else None
        self.ones = np.ones(rows, dz_matrix.dtype) if bias is not None else None
        self.masked = np.empty((rows, dz_matrix.shape[1]), dz_matrix.dtype) if relu else None

    def add(self, dz_rows, y_rows):
        """``dz_rows`` (times ``y_rows > 0`` with a ReLU inside, one compiled pass) added to the sum;
        returned, as the rest of the backward uses it."""
        if self.relu:
            masked = self.masked[:len(dz_rows)]
            layer_kernels.relu_backward(y=y_rows.reshape(-1), dy=dz_rows.reshape(-1), dx=masked.reshape(-1))
            dz_rows = masked
        if self.bias is not None:
            self.sum += self.ones[:len(dz_rows)] @ dz_rows
        return dz_rows

    @staticmethod
    def store(parts):
        """The threads' sums into the bias gradient, added in the order of the threads."""
        if parts[0].bias is not None:
            total = parts[0].sum
            for part in parts[1:]:
                total += part.sum
            parts[0].bias.grad[...] = total
