"""The GEMM-only floor: the matrix products of an MLP epoch's forward and backward, nothing else.

Not a trainer. It answers "how fast could a NumPy MLP possibly be on this machine": for each
batch of m rows and each layer l (A_0 is the input batch, W_l the weights):

    forward    Z_l     = A_{l-1} @ W_l
    backward   dW_l    = A_{l-1}.T @ dZ_l
               dA_{l-1} = dZ_l @ W_l.T          (not for the first layer: no gradient for x)

each one np.matmul into a preallocated output (the transposes are views that BLAS reads with a
flag, no copies). There is no bias, activation, loss, optimizer, shuffle or batch gathering, so
a real trainer's epoch minus this floor is its overhead. The last partial batch is included, as
in training. Epochs are timed like every peer's (the first is the warm-up).

  --lib torch   the same products through torch.matmul(out=) (PyTorch's CPU BLAS), for comparison
  --peak        instead: one 2048x2048x2048 float32 product, median GFLOP/s of numpy (and torch,
                if installed), plus the BLAS library in use
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402  (first: pins the BLAS threads before numpy loads)

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def options(p):
    p.add_argument("--lib", choices=["numpy", "torch"], default="numpy")
    p.add_argument("--peak", action="store_true", help="time one 2048^3 float32 product instead")


def matmul_backend(lib):
    """(matmul with out=, array conversion) for numpy or torch."""
    if lib == "numpy":
        return np.matmul, (lambda a: a)
    import torch
    torch.set_num_threads(common.THREADS)
    return torch.matmul, torch.from_numpy


class BatchProducts:
    """The operands and preallocated outputs of one batch size's products."""

    def __init__(self, sizes, m, rng, convert):
        def rand(*shape):
            return convert(rng.standard_normal(shape, dtype=np.float32))

        pairs = list(zip(sizes, sizes[1:]))
        self.inputs = [rand(m, n_in) for n_in, _ in pairs]
        self.weights = [rand(n_in, n_out) for n_in, n_out in pairs]
        self.outputs = [rand(m, n_out) for _, n_out in pairs]
        self.d_outputs = [rand(m, n_out) for _, n_out in pairs]
        self.d_weights = [rand(n_in, n_out) for n_in, n_out in pairs]
        self.d_inputs = [rand(m, n_in) for n_in, _ in pairs]
        # 2*m*in*out flops per product: 2 products for the first layer, 3 for the others
        self.flops = sum(2 * m * n_in * n_out * (2 if l == 0 else 3) for l, (n_in, n_out) in enumerate(pairs))
        self.products = 3 * len(pairs) - 1

    def run(self, matmul):
        for a, w, z in zip(self.inputs, self.weights, self.outputs):
            matmul(a, w, out=z)
        for l in reversed(range(len(self.weights))):
            matmul(self.inputs[l].T, self.d_outputs[l], out=self.d_weights[l])
            if l > 0:
                matmul(self.d_outputs[l], self.weights[l].T, out=self.d_inputs[l])


def blas_info():
    info = {}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception as e:  # older numpy without mode="dicts"
        info["numpy_blas"] = f"unknown ({e})"
    try:
        from threadpoolctl import threadpool_info
        info["blas_runtime"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                                for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        pass
    return info


def peak(n=2048, reps=10):
    out = dict(peer="gemm-peak", mode="peak", n=n, threads=common.THREADS, numpy=np.__version__,
               **blas_info())
    libs = ["numpy"]
    try:
        import torch
        libs.append("torch")
        out["torch"] = torch.__version__
    except ImportError:
        pass
    for lib in libs:
        matmul, convert = matmul_backend(lib)
        rng = np.random.default_rng(0)
        a, b, c = (convert(rng.standard_normal((n, n), dtype=np.float32)) for _ in range(3))
        times = []
        for _ in range(reps + 2):
            t0 = time.perf_counter()
            matmul(a, b, out=c)
            times.append(time.perf_counter() - t0)
        times = times[2:]  # two warm-ups
        out[f"{lib}_gflops_median"] = round(2 * n ** 3 / statistics.median(times) / 1e9, 1)
        out[f"{lib}_gflops_best"] = round(2 * n ** 3 / min(times) / 1e9, 1)
    out["peak_rss_mb"] = common.peak_rss_mb()
    print(json.dumps(out), flush=True)


def main():
    args = common.parse_args(__doc__, options)
    if args.peak:
        return peak()
    sizes = common.WORKLOADS[args.workload]["sizes"]
    n = args.rows or 60_000
    bs = min(args.batch, n)
    matmul, convert = matmul_backend(args.lib)
    rng = np.random.default_rng(args.seed)
    full = BatchProducts(sizes, bs, rng, convert)
    batches = [full] * (n // bs)              # every full batch reuses the same buffers
    if n % bs:
        batches.append(BatchProducts(sizes, n % bs, rng, convert))
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        for b in batches:
            b.run(matmul)
        times.append(time.perf_counter() - t0)
    flops = sum(b.flops for b in batches)
    med = statistics.median(times[1:]) if len(times) > 1 else None
    common.report(f"{args.lib}-gemm-floor", args, times, None, n_train=n,
                  gemm_flops_per_epoch=flops, products_per_epoch=sum(b.products for b in batches),
                  gflops=None if med is None else round(flops / med / 1e9, 1))


if __name__ == "__main__":
    main()
