"""TensorFlow, Keras and PyTorch: the same network in glassnet, PyTorch and Keras trains to the same
weights, step by step, except where a framework's update rule differs by design.

A 4-16-3 network (ReLU, then softmax) on the iris flowers (150 examples, standardized), built
once in glassnet and moved with its initial weights to PyTorch and to Keras
(``glassnet.interop``). Each framework then takes the same 20 batches of 16 examples, with:

- SGD with momentum 0.9 (learning rate 0.1);
- Adam (learning rate 0.01, epsilon 1e-7 in all three: PyTorch's default is 1e-8);
- Adam with epsilon 1e-12, where Keras's placement of epsilon no longer matters, and the same
  with beta_1 and beta_2 rounded to float32, where Keras's float32 powers ``beta ** t`` no
  longer differ either;
- SGD with momentum 0.9 and the learning rate halved after step 10, where the two conventions
  of momentum part.

Each step records the batch's loss in each framework (before that step's update, as Keras's
``train_on_batch`` and a PyTorch loop report it) and the largest difference between each
framework's weights and glassnet's. Writes docs/course/frameworks.png.

    python examples/course/frameworks.py [--quick]      # needs glassnet[torch,keras]
"""
import os

import common
import numpy as np

import glassnet as gn
from glassnet import interop
from glassnet.extras import require, require_keras

BATCH = 16
RUNS = ("SGD + momentum 0.9", "Adam", "Adam, epsilon 1e-12", "Adam, epsilon 1e-12, float32 betas",
        "SGD + momentum 0.9, rate halved")
# 0.9 and 0.999 rounded to float32, the precision Keras computes beta ** t in (see the page)
BETAS_32 = (float(np.float32(0.9)), float(np.float32(0.999)))


def iris(seed=0):
    """scikit-learn's 150 iris flowers: 4 measurements, standardized, and 3 species."""
    datasets = require("sklearn.datasets", extra="examples", purpose="the course's data sets")
    x, y = datasets.load_iris(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x.astype(np.float32), y.astype(np.int64)


def batches(n, steps, seed):
    """The rows of each step's batch: shuffled epochs, cut into batches of 16 (the same for all three)."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(steps * BATCH // n + 1)])
    return [order[k * BATCH:(k + 1) * BATCH] for k in range(steps)]


def optimizers(run, steps, torch, keras):
    """The run's optimizer in glassnet and Keras, and a maker of PyTorch's (and its schedule)."""
    if run.startswith("Adam"):
        epsilon = 1e-12 if "1e-12" in run else 1e-7
        beta_1, beta_2 = BETAS_32 if "float32" in run else (0.9, 0.999)
        return (gn.optimizers.Adam(0.01, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon),
                lambda parameters: (torch.optim.Adam(parameters, lr=0.01, betas=(beta_1, beta_2), eps=epsilon), None),
                keras.optimizers.Adam(0.01, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon))
    if "halved" not in run:
        return (gn.optimizers.SGD(0.1, momentum=0.9),
                lambda parameters: (torch.optim.SGD(parameters, lr=0.1, momentum=0.9), None),
                keras.optimizers.SGD(0.1, momentum=0.9))
    half = steps // 2  # the rate of steps 1..half is 0.1, after that 0.05

    def make_torch(parameters):
        optimizer = torch.optim.SGD(parameters, lr=0.1, momentum=0.9)
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=half, gamma=0.5)

    return (gn.optimizers.SGD(gn.schedules.StepDecay(0.1, step_size=half, gamma=0.5), momentum=0.9), make_torch,
            keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, half, 0.5, staircase=True),
                                 momentum=0.9))


def train(run, x, y, steps, seed, torch, keras):
    """One run in the three frameworks from the same weights; the losses and weight differences per step."""
    model = gn.Sequential([gn.layers.Input((4,)), gn.layers.Dense(16, activation="relu"),
                           gn.layers.Dense(3, activation="softmax")], seed=seed)
    net = interop.to_torch(model).train()      # the same initial weights in PyTorch ...
    keras_model = interop.to_keras(model)      # ... and in Keras
    gn_optimizer, make_torch_optimizer, keras_optimizer = optimizers(run, steps, torch, keras)
    model.compile(optimizer=gn_optimizer, loss="sparse_categorical_crossentropy")
    torch_optimizer, schedule = make_torch_optimizer(net.parameters())
    logits = net[:-1]  # PyTorch's cross-entropy takes logits: the network without its final Softmax
    keras_model.compile(optimizer=keras_optimizer, loss="sparse_categorical_crossentropy")
    losses = {"glassnet": [], "PyTorch": [], "Keras": []}
    differences = {"PyTorch": [], "Keras": []}
    for rows in batches(len(x), steps, seed):
        xb, yb = x[rows], y[rows]
        losses["glassnet"].append(model.fit(xb, yb, batch_size=None, shuffle=False, verbose=0).history["loss"][0])
        torch_optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        torch_optimizer.step()
        if schedule is not None:
            schedule.step()
        losses["PyTorch"].append(loss.item())
        losses["Keras"].append(float(keras_model.train_on_batch(xb, yb)))
        weights = model.get_weights()  # [W1, b1, W2, b2]; each framework's weights read back the same way
        for name, other in (("PyTorch", interop.from_torch(net).get_weights()),
                            ("Keras", interop.from_keras(keras_model).get_weights())):
            differences[name].append(max(float(np.abs(a - b).max()) for a, b in zip(weights, other)))
    return {"losses": losses, "differences": differences,
            "loss_gap": {name: max(abs(a - b) for a, b in zip(losses[name], losses["glassnet"]))
                         for name in ("PyTorch", "Keras")},
            "weight_gap": {name: values[-1] for name, values in differences.items()}}


def run(quick=False, seed=0, figure=None):
    torch = require("torch", extra="torch", purpose="the frameworks page")
    keras = require_keras("the frameworks page")
    torch.manual_seed(seed)
    x, y = iris(seed)
    steps = 6 if quick else 20
    results = {}
    for name in RUNS:
        result = results[name] = train(name, x, y, steps, seed, torch, keras)
        print(f"{name}: after {steps} steps the largest weight difference from glassnet is "
              f"{result['weight_gap']['PyTorch']:.1e} in PyTorch, {result['weight_gap']['Keras']:.1e} in Keras; "
              f"the largest loss difference {result['loss_gap']['PyTorch']:.1e} and {result['loss_gap']['Keras']:.1e}")
    for name in RUNS[:2]:
        losses = results[name]["losses"]
        print(f"\n{name}\nstep   glassnet    PyTorch      Keras")
        for step, row in enumerate(zip(*losses.values()), 1):
            print(f"{step:4}   " + "   ".join(f"{value:.6f}" for value in row))
    if figure:
        from matplotlib.lines import Line2D
        fig = common.figure(2, width=5.2, height=3.4)
        styles = {"glassnet": "-", "PyTorch": "--", "Keras": ":"}
        colours = dict(zip(RUNS, ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:red")))
        steps_axis = range(1, steps + 1)
        axes = fig.add_subplot(1, 2, 1)
        for name in RUNS[:2]:
            for framework, style in styles.items():
                axes.plot(steps_axis, results[name]["losses"][framework], style, color=colours[name])
        axes.set_xlabel("step (batches of 16)")
        axes.set_ylabel("loss of the batch")
        axes.set_title("the same batches from the same weights", fontsize=10)
        axes.legend([Line2D([], [], color=colours[name]) for name in RUNS[:2]],
                    [f"{name}: glassnet, PyTorch, Keras" for name in RUNS[:2]], fontsize=7)
        axes = fig.add_subplot(1, 2, 2)
        for name in RUNS:
            for framework in ("PyTorch", "Keras"):
                values = np.maximum(results[name]["differences"][framework], 1e-9)
                axes.plot(steps_axis, values, styles[framework], color=colours[name], marker=".")
        axes.set_yscale("log")
        axes.set_xlabel("step")
        axes.set_ylabel("largest |w - w_glassnet|")
        axes.set_title("distance from glassnet's weights", fontsize=10)
        handles = [Line2D([], [], color=colours[name]) for name in RUNS]
        handles += [Line2D([], [], color="grey", linestyle=styles[f]) for f in ("PyTorch", "Keras")]
        axes.legend(handles, [*RUNS, "PyTorch", "Keras"], fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1))
        common.save(fig, figure)
    return results


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    args = common.arguments(__doc__.splitlines()[0], "frameworks.png")
    run(args.quick, args.seed, args.figure)
