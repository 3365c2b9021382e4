"""``glassnet playground``: the page in the browser to play with a real network (``glassnet.playground``)."""
import sys

from .. import checks

LOCAL = ("127.0.0.1", "localhost", "::1")


def register(subparsers):
    parser = subparsers.add_parser(
        "playground", help="open a page in the browser to build, train and look inside a small network",
        description="Start a local web server running glassnet and open its page: pick a 2-D data set, your own "
                    "CSV or small pictures, add layers and neurons, train and watch the decision boundary, each "
                    "neuron and the loss curves; click a point for every number of its forward and backward pass; "
                    "download the model, its ONNX file and a script that trains it again. Needs the playground "
                    "extra: pip install \"glassnet[playground]\".")
    parser.add_argument("--port", type=checks.option(int, checks.nonnegative_int), default=8765,
                        help="the port to serve on (default 8765)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to serve on (default 127.0.0.1, this machine only); another address lets "
                             "other machines use the server: do so only on a network you trust")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    parser.set_defaults(run=run)


def run(args):
    from ..playground.app import serve
    if args.port > 65535:
        print("glassnet: error: --port must be at most 65535", file=sys.stderr)
        return 2
    if args.host not in LOCAL:
        print(f"warning: serving on {args.host}: any machine that can reach this address can use the playground "
              "(and make this machine train networks); it has no password. Use 127.0.0.1 unless you trust the network.",
              file=sys.stderr)
    serve(args.host, args.port, open_browser=not args.no_browser)
    return 0
