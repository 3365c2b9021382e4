"""JAX: a hand-written MLP (Glorot-uniform weights, zero biases), optax.adam, float32 on the CPU.

The whole training step (gather the batch, forward, loss, grad, Adam update) is one jax.jit
function with the parameters and optimizer state donated. The data live on the device once;
each epoch a NumPy permutation is drawn and handed to the step batch by batch.

  (default)  one jitted call per step (what a Python training loop around JAX costs)
  --scan     all full batches of an epoch in one jitted jax.lax.scan (the last partial batch,
             if any, through the per-step function): the least Python overhead JAX allows

The warm-up epoch includes the XLA compilation (one for the full batch, one for the remainder).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402  (first: pins the BLAS threads before jax loads)

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")

import time  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OPTIMIZER = optax.adam(common.LR, b1=common.BETA1, b2=common.BETA2, eps=common.EPS)


def options(p):
    p.add_argument("--scan", action="store_true", help="run each epoch's full batches in one lax.scan")


def init_params(key, sizes):
    params = []
    for k, (fan_in, fan_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes, sizes[1:])):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = jax.random.uniform(k, (fan_in, fan_out), jnp.float32, -limit, limit)
        params.append((w, jnp.zeros((fan_out,), jnp.float32)))
    return params


def forward(params, x):
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def loss_fn(params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()


def update(params, opt_state, x, y):
    grads = jax.grad(loss_fn)(params, x, y)
    updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


@partial(jax.jit, donate_argnums=(0, 1))
def train_step(params, opt_state, X, Y, idx):
    return update(params, opt_state, X[idx], Y[idx])


@partial(jax.jit, donate_argnums=(0, 1))
def train_epoch_scan(params, opt_state, X, Y, idx_batches):
    def body(carry, idx):
        return update(*carry, X[idx], Y[idx]), None
    (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), idx_batches)
    return params, opt_state


def main():
    args = common.parse_args(__doc__, options)
    xtr, ytr, xte, yte = common.load(args.workload, args.rows)
    X, Y = jnp.asarray(xtr), jnp.asarray(ytr, dtype=jnp.int32)
    params = init_params(jax.random.PRNGKey(args.seed), common.WORKLOADS[args.workload]["sizes"])
    opt_state = OPTIMIZER.init(params)
    rng = np.random.default_rng(args.seed)
    n, bs = len(xtr), args.batch
    n_full = n // bs
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = rng.permutation(n).astype(np.int32)
        if args.scan:
            if n_full:
                params, opt_state = train_epoch_scan(params, opt_state, X, Y,
                                                     perm[:n_full * bs].reshape(n_full, bs))
            if n_full * bs < n:
                params, opt_state = train_step(params, opt_state, X, Y, perm[n_full * bs:])
        else:
            for start in range(0, n, bs):
                params, opt_state = train_step(params, opt_state, X, Y, perm[start:start + bs])
        jax.block_until_ready(params)
        times.append(time.perf_counter() - t0)

    logits = jax.jit(forward)(params, jnp.asarray(xte))
    acc = float((np.asarray(jnp.argmax(logits, axis=1)) == yte).mean())
    common.report("jax-jit-scan" if args.scan else "jax-jit", args, times, acc, n_train=n,
                  version=jax.__version__, dtype=str(params[0][0].dtype),
                  devices=[str(d) for d in jax.devices()])


if __name__ == "__main__":
    main()
