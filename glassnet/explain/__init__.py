"""One forward pass, one backward pass and one step of gradient descent, with every number.

    trace = gn.explain()                  # 2 inputs -> 3 sigmoid neurons -> 1 output, one example
    trace.print()                         # tables in the terminal (colours with rich)
    trace.to_markdown()                   # the same as Markdown
    gn.explain(model, x, y)               # a Sequential or a graph gn.Model, one example or a few
    gn.explain(optimizer="adam", steps=3) # three Adam steps: each weight's moments, step size, update

It traces Dense layers (with their activation), activation layers (``ReLU()``,
``Activation("tanh")``, ...), ``BatchNormalization``, ``LayerNormalization`` and, in a graph
``gn.Model``, ``Add`` (a residual connection); any other layer is refused by name. ``x`` is one
example or a batch of up to ``MAX_EXAMPLES`` (a model with a BatchNormalization needs two or
more: it normalizes over the batch; 4 are drawn by default).

For each Dense layer with inputs ``a`` (the example ``x`` for the first layer) the trace shows,
per neuron ``j`` (and per example ``r`` of a batch),

    forward:   z_j = a_1 w_1j + a_2 w_2j + ... + b_j,     output_j = f(z_j)
    backward:  dL/dz_j = dL/doutput_j * f'(z_j)            (the gradient arriving times the local one)
               dL/dw_ij = a_i * dL/dz_j (summed over the examples),   dL/db_j = dL/dz_j,
               dL/da_i = sum_j w_ij dL/dz_j

for a normalization, with the mean and variance over the batch (BatchNormalization, per feature)
or over the features (LayerNormalization, per example),

    forward:   x_hat = (a - mean) / sqrt(var + eps),   output = gamma * x_hat + beta
               (BatchNormalization, training: moving = momentum * moving + (1 - momentum) * batch statistic)
    backward:  dL/dgamma = sum dL/doutput * x_hat,   dL/dbeta = sum dL/doutput,   d_x_hat = dL/doutput * gamma
               dL/da = (d_x_hat - mean(d_x_hat) - x_hat * mean(d_x_hat * x_hat)) / sqrt(var + eps)

for an Add, ``output = a + b`` forward and the same gradient back to both inputs; and where a
tensor is read by several steps (the source of a skip connection), the gradients that come back
along each path and their sum, the chain rule's sum over paths. Then the update
``w <- w - lr * dL/dw`` of every trainable parameter (and the moving statistics' new values),
the loss before and after it, and each analytic gradient next to its central difference from
``glassnet.gradcheck``. With ``optimizer="momentum"`` or ``"adam"`` the update shows what the
optimizer remembers (the velocity ``b <- 0.9 b + dL/dw``; Adam's ``m`` and ``v``, their bias
corrections) and each weight's step size and update next to plain SGD's ``-lr * dL/dw``;
``steps=N`` runs N steps on the same examples and adds each weight's total move. A classifier
with one sigmoid output and the binary cross-entropy shows ``p = sigmoid(z)`` as the probability
of class 1, the loss ``-log p`` (or ``-log(1 - p)``) and ``dL/dz = p - y``.

The numbers are what the layers' own forward and backward closures, the loss's
``value_and_grad`` and ``training.train_step`` produce, run in float64 on a copy of the model
(the model passed in is not changed). The one exception: a normalization keeps its mean,
variance and ``x_hat`` inside its closures, so the trace computes them with the layer's own
``normalization.normalize`` and the pieces of the three-term backward from them (the tests
check that they give the layer's own output and ``dL/da``). With a softmax (sigmoid) output
and a cross-entropy the loss takes the logits ``z`` and sends back ``dL/dz = p - y``, as in
training.
"""
from .examples import MAX_EXAMPLES, MAX_STEPS, SUPPORTED, TASKS
from .run import MAX_OPTIMIZER_STEPS, explain
from .trace import LayerTrace, OptimizerTrace, OutputTrace, StepTrace, Trace

__all__ = ["explain", "Trace", "LayerTrace", "OutputTrace", "OptimizerTrace", "StepTrace", "MAX_EXAMPLES",
           "MAX_STEPS", "MAX_OPTIMIZER_STEPS", "SUPPORTED", "TASKS"]
