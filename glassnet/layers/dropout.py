"""Dropout: randomly silence neurons during training so the network cannot rely on any one."""
from .. import checks
from .base import Layer


class Dropout(Layer):
    """Inverted dropout with drop probability ``rate`` (typically 0.2 to 0.5).

    Training: each value is kept with probability ``keep = 1 - rate`` and scaled by ``1 / keep``:

        mask = (u >= rate) / keep,  u ~ Uniform[0, 1)
        y = x * mask;  dx = dy * mask

    Inference: ``y = x``, every neuron active. Because the kept values were scaled up by
    ``1 / keep`` during training, their expected value equals ``x``, so nothing needs rescaling at
    test time. This equals the classic form (no scaling in training, outputs multiplied by
    ``keep`` at test time) up to a constant factor that the next layer's weights absorb;
    ``docs/dropout.md`` shows it with numbers.
    """

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.number("Dropout rate", rate, low=0, high=1, high_open=True)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            return x, lambda dy: dy
        keep = 1 - self.rate
        mask = (self.rng.random(x.shape, dtype=x.dtype) >= self.rate) * x.dtype.type(1 / keep)
        return x * mask, lambda dy: dy * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
