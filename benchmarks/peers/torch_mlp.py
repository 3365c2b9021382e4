"""PyTorch (CPU build, torch==2.13.0): nn.Sequential of nn.Linear + nn.ReLU, CrossEntropyLoss.

The idiomatic hand-written loop, without a DataLoader: the data are float32/int64 tensors made
once; each epoch draws torch.randperm(n) and gathers each batch as X[idx]; each step is
zero_grad(set_to_none=True), loss.backward(), opt.step().

  (default)     eager mode, torch.optim.Adam with PyTorch's default implementation on CPU
  --adam fused  Adam(fused=True) (one fused kernel for all parameters); also --adam foreach
  --compile     torch.compile of the loss function (model forward + loss) and of opt.step;
                the warm-up epoch then includes the Inductor compilation

--inference trains 1 epoch (eager), then times model(x_test) under torch.no_grad() in batches
of each --infer-batch-sizes (written into a preallocated output, as glassnet's predict does)
and reports examples per second (median of --infer-reps).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402  (first: pins the BLAS threads before torch loads)

import time  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def options(p):
    p.add_argument("--adam", choices=["default", "foreach", "fused"], default="default",
                   help="torch.optim.Adam implementation (default: PyTorch's choice for CPU)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the loss function and the optimizer step")


def build(sizes):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main():
    args = common.parse_args(__doc__, options, inference=True)
    torch.set_num_threads(common.THREADS)
    torch.manual_seed(args.seed)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in common.load(args.workload, args.rows))
    model = build(common.WORKLOADS[args.workload]["sizes"])
    impl = {} if args.adam == "default" else {args.adam: True}
    opt = torch.optim.Adam(model.parameters(), lr=common.LR, betas=(common.BETA1, common.BETA2),
                           eps=common.EPS, **impl)
    loss_fn = nn.CrossEntropyLoss()

    def forward_loss(xb, yb):
        return loss_fn(model(xb), yb)

    def optimizer_step():
        opt.step()

    if args.compile:
        forward_loss = torch.compile(forward_loss)
        optimizer_step = torch.compile(optimizer_step)

    n, bs = len(xtr), args.batch
    times, first_step_s = [], None
    for _ in range(1 if args.inference else args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            opt.zero_grad(set_to_none=True)
            forward_loss(xtr[idx], ytr[idx]).backward()
            optimizer_step()
            if first_step_s is None:
                first_step_s = time.perf_counter() - t0
        times.append(time.perf_counter() - t0)

    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()

    peer = "torch-compile" if args.compile else "torch-eager"
    if args.adam != "default":
        peer += f"-{args.adam}"
    info = dict(version=torch.__version__, dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
                first_step_s=round(first_step_s, 4), torch_threads=torch.get_num_threads())

    if args.inference:
        out = torch.empty((len(xte), model[-1].out_features), dtype=torch.float32)

        def predict(bs):
            with torch.no_grad():
                for start in range(0, len(xte), bs):
                    out[start:start + bs] = model(xte[start:start + bs])
            return out

        results = {bs: common.time_inference(lambda: predict(bs), len(xte), args.infer_reps)
                   for bs in common.infer_batch_sizes(args, len(xte))}
        common.report_inference(peer, args, results, times[0], acc, n_train=n, **info)
    else:
        common.report(peer, args, times, acc, n_train=n, **info)


if __name__ == "__main__":
    main()
