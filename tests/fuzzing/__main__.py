"""Long fuzzing runs: ``python -m tests.fuzzing --cases 100000`` (see the package docstring)."""
import argparse
import sys
import time

import numpy as np

from . import KINDS, cases, run_cases


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per kind (default 10000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of: {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    failed = 0
    for kind in args.kinds.split(","):
        start = time.perf_counter()
        results = run_cases(cases(kind, np.random.default_rng(args.seed), args.cases))
        print(results.table())
        print(f"{kind}: {args.cases:,} cases in {time.perf_counter() - start:.0f} s, "
              f"{results.failed} failed", flush=True)
        for failure in results.failures:
            print(failure)
        failed += results.failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
