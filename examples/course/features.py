"""Claim 8: deeper layers learn more complex features. A small convolutional network is trained on
Fashion-MNIST; then its first layer's 16 filters (5x5 pixels) are measured and drawn, the feature
maps of the first and the second convolution are drawn for three test pictures, and for one unit
of each layer (conv1, conv2 and the Dense layer after them) the test pictures that excite it most.
Writes docs/course/features.png.

It trains with SGD and momentum, not Adam: with Adam (3e-3) the same 3 epochs gave filters of
pixel-level detail (edge share 0.10, smooth share 0.33, below SGD's 0.13 and 0.48), although a
slightly better accuracy (0.901 against 0.886).

Two measures, each against a baseline:

- **How edge-like the first-layer filters are.** A 5x5 filter is 25 numbers; split it into parts
  that are orthogonal to each other (an orthonormal basis of the 25-dimensional space, from the
  polynomials of the pixel coordinates ``i, j``): its mean (1 dimension: a brightness detector),
  its best-fitting ramp ``a*i + b*j`` (2 dimensions: an *oriented edge*, dark on one side and
  bright on the other, at the angle ``atan2(b, a)``), its quadratic part ``i*i, i*j, j*j`` (3
  dimensions: a blob or a bar), and the rest (19 dimensions: finer detail, single pixels and checkerboards). The
  *edge share* is the ramp's part of the filter's energy (the sum of its squared weights): the
  squared correlation of the filter with the best-oriented ramp. The *smooth share* adds the
  mean and the quadratic part. A filter of independent random weights spreads its energy evenly
  over the 25 dimensions, so its expected edge share is 2/25 = 0.08 and its smooth share 6/25 =
  0.24; the baseline is computed from the layer's own initializer (glorot_uniform), 4,000 filters.
- **How class-specific a unit is.** A unit of a convolution is one filter (one channel of its
  feature map); its response to a picture is the maximum of its map (the pattern found anywhere);
  a unit of the hidden Dense layer responds with its output.
  Its *purity* is the share of its 25 most exciting test pictures that belong to their most
  common class (as the Dense version of this claim measured it).

Needs the Fashion-MNIST files (``apt-get install -y dataset-fashion-mnist``, or a folder named by
the ``FASHION_MNIST_DIR`` environment variable).

    python examples/course/features.py [--quick]
"""
import time
import warnings

import common
import numpy as np

import glassnet as gn

TOP = 25  # pictures per unit for its purity
CLASSES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def network(seed):
    """The course's CNN as a graph model, and its input and the outputs of conv1, conv2 and the
    hidden Dense layer (symbolic tensors): ``gn.Model(pictures, [conv1, conv2, hidden])`` on them is
    a second model on the same layers whose outputs are the feature maps and the hidden units."""
    pictures = gn.Input((784,), name="pictures")
    x = gn.layers.Reshape((28, 28, 1))(pictures)
    conv1 = gn.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1")(x)
    x = gn.layers.MaxPooling2D()(conv1)  # 14x14x16
    conv2 = gn.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = gn.layers.MaxPooling2D()(conv2)  # 7x7x32
    x = gn.layers.Flatten()(x)
    hidden = gn.layers.Dense(64, activation="relu", name="hidden")(x)
    classes = gn.layers.Dense(10, activation="softmax", name="classes")(hidden)
    model = gn.Model(pictures, classes, seed=seed)
    model.compile(optimizer=gn.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, (pictures, conv1, conv2, hidden)


def smooth_basis(k=5):
    """Six orthonormal columns (k*k, 6) spanning the smooth filters, in order: the constant, the
    ramps i and j, and the quadratics i*i, i*j, j*j made orthogonal to the first three (QR is
    Gram-Schmidt in column order). The other k*k - 6 dimensions are "the rest"."""
    i, j = np.meshgrid(np.arange(k) - (k - 1) / 2, np.arange(k) - (k - 1) / 2, indexing="ij")
    polynomials = np.stack([c.ravel() for c in (np.ones_like(i), i, j, i * i, i * j, j * j)], axis=1)
    return np.linalg.qr(polynomials)[0], i.ravel(), j.ravel()


PARTS = {"mean": slice(0, 1), "edge": slice(1, 3), "blob": slice(3, 6)}


def shares(kernels):
    """For kernels (k, k, 1, filters): each part's share of each filter's energy (the sum of its
    squared weights), and the orientation of its edge part (degrees: the direction in which the
    ramp rises, 0 = downwards in the picture, 90 = to the right)."""
    k = kernels.shape[0]
    w = kernels.reshape(k * k, -1).astype(np.float64)
    basis, i, j = smooth_basis(k)
    coefficients = basis.T @ w
    energy = (w ** 2).sum(axis=0)
    result = {name: (coefficients[part] ** 2).sum(axis=0) / energy for name, part in PARTS.items()}
    result["smooth"] = result["mean"] + result["edge"] + result["blob"]
    result["rest"] = 1 - result["smooth"]
    result["angle"] = np.degrees(np.arctan2(j @ w, i @ w))
    return result


def random_baseline(layer, filters=4000, seed=1):
    """The same shares for filters drawn by ``layer``'s own initializer, as many as ``filters``."""
    rng = np.random.default_rng(seed)
    k = layer.weight.value.shape
    draws = [layer.kernel_initializer(k, rng, np.float64) for _ in range(-(-filters // k[-1]))]
    return shares(np.concatenate(draws, axis=-1))


def purity(responses, labels, top=TOP):
    """For each unit (a column of ``responses``), the share of its ``top`` most exciting pictures in
    their most common class."""
    best = np.argsort(-responses, axis=0, kind="stable")[:top]
    return np.array([np.bincount(labels[rows], minlength=10).max() / top for rows in best.T])


def run(quick=False, seed=0, figure=None, data_dir=None):
    (x, y), (x_test, y_test) = common.fashion_mnist(data_dir)
    n, epochs, tested = (3000, 2, 2000) if quick else (60000, 3, 10000)
    model, (pictures, *outputs) = network(seed)
    conv1 = model.get_layer("conv1")
    start_kernels = conv1.weight.value.copy()
    initial = shares(start_kernels)
    start = time.perf_counter()
    model.fit(x[:n], y[:n], epochs=epochs, batch_size=64, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(x_test[:tested], verbose=0).argmax(1) == y_test[:tested]))
    print(f"trained on {n} pictures for {epochs} epochs in {seconds:.0f} s: test accuracy {accuracy:.3f} "
          f"({tested} pictures)")

    kernels = conv1.weight.value.copy()
    trained, change, random = shares(kernels), shares(kernels - start_kernels), random_baseline(conv1)
    print("share of a first-layer filter's energy (mean over filters):")
    print(f"{'':>22} {'mean':>6} {'edge':>6} {'blob':>6} {'rest':>6} {'smooth':>7}")
    rows = (("trained", trained), ("this network at start", initial), ("trained - start", change),
            ("random (4,000 filters)", random))
    for name, s in rows:
        print(f"{name:>22} " + " ".join(f"{s[p].mean():6.3f}" for p in ("mean", "edge", "blob", "rest")) +
              f" {s['smooth'].mean():7.3f}")
    random_90th = float(np.quantile(random["edge"], 0.9))
    edge_above = float(np.mean(trained["edge"] > random_90th))
    print(f"trained filters whose edge share is above the 90th percentile of random filters' ({random_90th:.3f}): "
          f"{edge_above:.2f}, at angles (degrees, 0 = rising downwards, 90 = rising to the right) "
          f"{np.round(trained['angle'][trained['edge'] > random_90th]).astype(int).tolist()}")

    # Made after training: a model packs its layers' weights into buffers of its own when it is
    # built, so a second model built first would take them from the one being trained.
    inside = gn.Model(pictures, outputs, name="inside")
    first, second, hidden = inside.predict(x_test[:tested], verbose=0)
    labels = y_test[:tested]
    result = {"accuracy": accuracy, "seconds": seconds, "edge_above_random_90th": edge_above}
    for name, s in (("trained", trained), ("initial", initial), ("change", change), ("random", random)):
        result[name] = {part: float(s[part].mean()) for part in ("mean", "edge", "blob", "rest", "smooth")}
    units = {}
    for name, responses in (("conv1", first.max(axis=(1, 2))), ("conv2", second.max(axis=(1, 2))), ("hidden", hidden)):
        alive = np.flatnonzero(responses.max(axis=0) > 0)  # a unit that never fires has no favourite pictures
        units[name] = (responses, alive, purity(responses[:, alive], labels))
        result[name] = float(units[name][2].mean())
    print(f"class purity of the {TOP} most exciting test pictures, mean over units: "
          f"conv1 {result['conv1']:.2f}, conv2 {result['conv2']:.2f}, hidden (dense) {result['hidden']:.2f}")
    if figure:
        result["overlapping_labels"] = _figure(figure, kernels, start_kernels, trained, change, x_test[:tested], labels,
                                               first, second, units)
    return result


def _figure(path, kernels, start_kernels, trained, change, pictures, labels, first, second, units, shown=6):
    """Rows 1-2: the 16 first-layer filters, most edge-like first, and what training added to each.
    Rows 3-5: three test pictures and the feature maps of the 6 most edge-like filters and of 6
    conv2 units. Rows 6-8: the test pictures that excite one unit of each layer most, the unit of
    median purity in its layer."""
    order = np.argsort(-trained["edge"], kind="stable")
    examples = [int(np.flatnonzero(labels == c)[0]) for c in (7, 1, 8)]  # a sneaker, trousers, a bag
    columns = 1 + 2 * shown

    fig = common.figure(1, width=8.4, height=7.0)
    outer = fig.add_gridspec(2, 1, height_ratios=[2.2, 6.9], hspace=0.1, left=0.1, right=0.99, top=0.96, bottom=0.01)
    top = outer[0].subgridspec(2, 17, wspace=0.12, hspace=0.45)
    for row, (name, k, s) in enumerate((("conv1 filters\n(edge share)", kernels, trained),
                                        ("trained - start\n(edge share)", kernels - start_kernels, change))):
        for column, f in enumerate(order):
            limit = np.abs(k[:, :, 0, f]).max()  # each filter on its own scale: its shape is what counts
            axes = _panel(fig, top[row, 1 + column], k[:, :, 0, f], cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes.set_title(f"{s['edge'][f]:.2f}", fontsize=7, pad=2)
        _label(fig, top[row, 0], name)

    grid = outer[1].subgridspec(7, columns, height_ratios=[1, 1, 1, 0.25, 1, 1, 1], wspace=0.1, hspace=0.1)
    for row, n in enumerate(examples):
        axes = _panel(fig, grid[row, 0], pictures[n].reshape(28, 28), cmap="gray_r")
        axes.set_ylabel(CLASSES[labels[n]], fontsize=7)
        for column, f in enumerate(order[:shown]):
            axes = _panel(fig, grid[row, 1 + column], first[n, :, :, f], cmap="magma")
            if row == 0:
                axes.set_title(f"conv1\nfilter {column + 1}", fontsize=7, pad=2)
        for column, u in enumerate(units["conv2"][1][:shown]):
            axes = _panel(fig, grid[row, 1 + shown + column], second[n, :, :, u], cmap="magma")
            if row == 0:
                axes.set_title(f"conv2\nunit {u + 1}", fontsize=7, pad=2)

    for row, name in enumerate(("conv1", "conv2", "hidden")):
        responses, alive, purities = units[name]
        middle = int(np.argsort(purities, kind="stable")[len(purities) // 2])
        unit = alive[middle]
        best = np.argsort(-responses[:, unit], kind="stable")[:columns - 1]
        for column, n in enumerate(best):
            _panel(fig, grid[4 + row, 1 + column], pictures[n].reshape(28, 28), cmap="gray_r")
        what = f"filter {order.tolist().index(unit) + 1}" if name == "conv1" else f"unit {unit + 1}"
        _label(fig, grid[4 + row, 0], f"{name} {what}:\nits top {columns - 1}\n(purity {purities[middle]:.2f})")
    with warnings.catch_warnings():  # nested grids: tight_layout leaves them where the margins above put them
        warnings.filterwarnings("ignore", "This figure includes Axes that are not compatible with tight_layout")
        return common.save(fig, path)


def _label(fig, cell, text):
    axes = fig.add_subplot(cell)
    axes.axis("off")
    axes.text(1.0, 0.5, text, fontsize=7, ha="right", va="center", transform=axes.transAxes)


def _panel(fig, cell, image, **style):
    axes = fig.add_subplot(cell)
    axes.imshow(image, interpolation="nearest", **style)
    axes.set_xticks([])
    axes.set_yticks([])
    return axes


if __name__ == "__main__":
    args = common.arguments(__doc__.splitlines()[0], "features.png")
    run(args.quick, args.seed, args.figure)
