"""``glassnet explain``: one forward pass, one backward pass and one gradient-descent step of a
small network, with every number (``glassnet.explain``)."""
import argparse

from .. import checks


def register(subparsers):
    parser = subparsers.add_parser(
        "explain", help="print one forward and backward pass of a small network, with the numbers",
        description="Trace one example through a small network: each neuron's z = x1*w1 + x2*w2 + "
                    "... + b and activation, the loss, backpropagation by the chain rule, one step "
                    "of gradient descent (or of momentum or Adam, or several) and a numerical check of every gradient (exit status 1 "
                    "if a gradient fails it). By default 2 inputs, one hidden layer of 3 sigmoid "
                    "neurons and 1 output.")
    parser.add_argument("--model", metavar="PATH",
                        help="trace a saved model file instead, a Sequential or a graph model (Dense, activation, "
                             "BatchNormalization, LayerNormalization and Add layers)")
    parser.add_argument("--task", choices=("regression", "classification"), default="regression",
                        help="regression: 1 linear output and MSE; classification: softmax and cross-entropy "
                             "(with --outputs 1: one sigmoid output and binary cross-entropy)")
    parser.add_argument("--inputs", type=checks.option(int, checks.positive_int), default=2, help="number of inputs (default 2)")
    parser.add_argument("--hidden", type=_sizes, default=(3,), metavar="SIZES",
                        help="hidden layer sizes, comma-separated, e.g. 4,3 (default 3)")
    parser.add_argument("--outputs", type=checks.option(int, checks.positive_int), help="outputs (default 1 for regression, 2 classes for classification; "
                             "1 for classification is a yes/no sigmoid output)")
    parser.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    parser.add_argument("--seed", type=checks.option(int, checks.seed), default=0, help="seed of the weights and of the example drawn")
    parser.add_argument("--lr", type=checks.option(float, checks.number, low=0, low_open=True), default=0.1, help="learning rate of the step (default 0.1)")
    parser.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default="sgd",
                        help="the step: plain gradient descent (default), SGD with momentum 0.9, or Adam; momentum "
                             "and Adam show what they remember (velocity, moments), each weight's step size and "
                             "update next to plain SGD's")
    parser.add_argument("--steps", type=checks.option(int, checks.positive_int), default=1, metavar="N",
                        help="optimizer steps on the same examples (default 1, at most 10)")
    parser.add_argument("--x", type=_numbers, metavar="VALUES",
                        help="the example, comma-separated; several examples separated by ';', e.g. '1,2;3,4' "
                             "(default: drawn)")
    parser.add_argument("--y", type=_numbers, metavar="VALUES",
                        help="its target: a number, several comma-separated, or a class; one per example separated "
                             "by ';' (default: drawn)")
    parser.add_argument("--examples", type=checks.option(int, checks.positive_int), metavar="N",
                        help="how many examples to draw (default 1, or 4 for a model with a BatchNormalization, "
                             "which normalizes over them; at most 8)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the trace as Markdown to PATH")
    parser.add_argument("--plain", action="store_true", help="plain text, no colours or borders")
    parser.set_defaults(run=run)


def _sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 3 or 4,3, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _numbers(text):
    """``1,2`` -> [1.0, 2.0]; ``1,2;3,4`` (one example a part) -> [[1.0, 2.0], [3.0, 4.0]]."""
    try:
        rows = [[float(part) for part in row.split(",")] for row in text.split(";")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if len({len(row) for row in rows}) > 1:
        raise argparse.ArgumentTypeError(f"every example separated by ';' needs as many numbers, got {text!r}")
    return rows[0] if len(rows) == 1 else rows


def run(args):
    from ..explain import explain
    from ..io.atomic import write_text
    model = None
    if args.model:
        from ..network import Network
        model = Network.load(args.model)
    trace = explain(model, args.x, args.y, learning_rate=args.lr, task=args.task, inputs=args.inputs,
                    hidden=args.hidden, outputs=args.outputs, activation=args.activation, seed=args.seed,
                    examples=args.examples, optimizer=args.optimizer, steps=args.steps)
    trace.print(color=False if args.plain else None)
    if args.markdown:
        write_text(args.markdown, trace.to_markdown())
        print(f"wrote {args.markdown}")
    return 0 if trace.check.passed else 1
