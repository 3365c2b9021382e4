"""Inverted dropout (what glassnet does) equals the classic dropout a course teaches.

Classic dropout: in training, each neuron's output is kept with probability keep = 1 - rate and
zeroed otherwise; at test time all neurons are used and their outputs are multiplied by keep.
Inverted dropout: in training, kept outputs are divided by keep; at test time nothing changes.

This script shows with numbers that
1. both forms give the next layer, at test time, the expected value of what it saw in training;
2. a network with classic dropout and next-layer weights W computes exactly the same function,
   in training (for the same mask) and at test time, as a network with inverted dropout and
   weights keep * W. The two forms differ only by a constant factor the weights absorb.

Run:  python examples/dropout_equivalence.py
"""
import numpy as np

import glassnet as gn

rate = 0.4
keep = 1 - rate
rng = np.random.default_rng(0)
x = np.array([[0.5, 1.0, 2.0, 4.0]])          # outputs of a hidden layer for one example
W = rng.standard_normal((4, 2))                # the next layer's weights

dropout = gn.layers.Dropout(rate)
dropout.ensure_built((4,), np.random.default_rng(1), np.float64)

# 1. Expected training output vs test output, averaged over 200,000 masks.
trials = np.repeat(x, 200_000, axis=0)
inverted_train = dropout.forward(trials, training=True)[0]
mask = inverted_train != 0
classic_train = trials * mask
print(f"rate = {rate}, keep = {keep}")
print(f"{'':34}{'neuron 1':>10}{'neuron 2':>10}{'neuron 3':>10}{'neuron 4':>10}")
print(f"{'x (hidden outputs)':34}" + "".join(f"{v:10.4f}" for v in x[0]))
print(f"{'classic: mean in training':34}" + "".join(f"{v:10.4f}" for v in classic_train.mean(0)))
print(f"{'classic: at test, keep * x':34}" + "".join(f"{v:10.4f}" for v in keep * x[0]))
print(f"{'inverted: mean in training':34}" + "".join(f"{v:10.4f}" for v in inverted_train.mean(0)))
print(f"{'inverted: at test, x':34}" + "".join(f"{v:10.4f}" for v in dropout.forward(x)[0][0]))

# 2. The same function: classic with W, inverted with keep * W.
inverted_hidden = dropout.forward(x, training=True)[0]  # one training pass: kept / keep, dropped = 0
same_mask = inverted_hidden != 0
classic_out = (x * same_mask) @ W
inverted_out = inverted_hidden @ (keep * W)
print("\nnext layer's output for one training mask:")
print(f"  classic,  weights W:        {classic_out.ravel()}")
print(f"  inverted, weights keep * W: {inverted_out.ravel()}")
print("next layer's output at test time:")
print(f"  classic,  (keep * x) @ W:   {((keep * x) @ W).ravel()}")
print(f"  inverted, x @ (keep * W):   {(dropout.forward(x)[0] @ (keep * W)).ravel()}")
