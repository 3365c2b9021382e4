"""Embedding: integer ids (a word, a city, a user) to learned vectors, one row of a matrix each."""
from .. import checks, graph, initializers, layer_kernels, regularizers
from ..errors import ConfigurationError, DataError
from .base import Layer


class Embedding(Layer):
    """A table ``E`` of ``input_dim`` learned vectors of ``output_dim`` numbers; id ``i`` is row ``i``.

    Forward, for ids of shape (batch, n) (any shape: each id becomes a vector):

        y[b, k] = E[ids[b, k]]          E: (input_dim, output_dim), y: (batch, n, output_dim)

    the same as a one-hot row ``onehot(ids[b, k]) @ E``, without the product. Backward, given
    ``dy = dL/dy``, the gradient of that product is a scatter-add:

        dE[i] = sum of dy[b, k] over every (b, k) with ids[b, k] == i

    so a row that no id of the batch picks gets 0 and an id repeated in the batch gets the sum of
    its ``dy`` (``layer_kernels.embedding_gradient``, one pass). Ids are not numbers to differentiate:
    the backward returns no ``dx``. ``dE`` is the whole (input_dim, output_dim) matrix, zeros
    included, so an optimizer with momentum still moves the rows absent from a batch, as
    PyTorch's ``nn.Embedding`` does with a dense optimizer (``docs/layers.md``).

    Ids are integers from 0 to ``input_dim - 1``; anything else (a negative, ``input_dim`` or more,
    2.5, NaN) is a DataError naming it. A model whose first layer is an Embedding keeps its inputs
    as integers (``id_count``), so ids above 2**24 stay exact.

    Ids are data, never another layer's output: the lookup has no gradient to pass back, and a
    float32 output holds integers exactly only up to 2**24. So in a graph model an Embedding is
    called on a ``gn.Input`` itself, ``gn.Input(shape, dtype="int64")`` (or without a dtype: the
    model keeps the ids of an input an Embedding reads as integers); another layer's output, a
    list or an input declared float is refused when the call is recorded. In a ``Sequential`` it
    is the first layer.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dim = checks.positive_int("Embedding input_dim", input_dim)
        self.output_dim = checks.positive_int("Embedding output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.weight = None

    @property
    def id_count(self):
        return self.input_dim

    def parameter_shapes(self, input_shape):
        """``weight``: (input_dim, output_dim), whatever the number of ids per example."""
        return {"weight": (self.input_dim, self.output_dim)}

    def build(self, input_shape, rng, dtype):
        shape = self.parameter_shapes(input_shape)["weight"]
        self.weight = self.add_parameter("weight", self.embeddings_initializer(shape, rng, dtype),
                                         self.embeddings_regularizer)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def __call__(self, x, training=False):
        """On data, the rows of the ids ``x`` (``Layer.__call__``). In a graph, ``x`` must be a
        ``gn.Input`` not declared float: ids that another layer computed would be floats, with no
        gradient to pass back to that layer."""
        if isinstance(x, graph.SymbolicTensor) or \
                (isinstance(x, (list, tuple)) and any(isinstance(t, graph.SymbolicTensor) for t in x)):
            self._check_reads(x)
        return super().__call__(x, training)

    def _check_reads(self, x):
        """Refuse ``x`` (what a graph calls this layer on) unless it is one ``gn.Input`` of ids
        (int64, int32 or no dtype), naming the layer, what it needs and what it got."""
        if isinstance(x, graph.Input) and (x.dtype is None or x.dtype in graph.INTEGER_DTYPES):
            return
        if isinstance(x, (list, tuple)):
            got = f"a list of {len(x)} tensors"
        elif isinstance(x, graph.Input):
            got = f"the input {x.name!r}, declared {x.dtype}"
        else:
            got = f"the output of layer {x.name!r} (numbers it computes, not ids)"
        raise ConfigurationError(f"layer {self.name!r} (Embedding) takes integer ids, so it must be called on an "
                                 f"integer input, gn.Input(shape, dtype='int64'), got {got}")

    def forward(self, x, training=False):
        ids = checks.ids(f"the input of layer {self.name!r} (Embedding)", x, self.input_dim)
        y = self.weight.value[ids]

        def backward(dy):
            bad = layer_kernels.embedding_gradient(grad=self.weight.grad, ids=ids.reshape(-1),
                                             dy=dy.reshape(-1, self.output_dim))
            if bad >= 0:  # the ids changed since the forward checked them
                raise DataError(f"layer {self.name!r} (Embedding): id {ids.flat[bad]} is not in [0, {self.input_dim})")
            return None

        return y, backward

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.name_of(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer)}
