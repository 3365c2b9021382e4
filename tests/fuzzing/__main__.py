"""Long fuzzing runs: ``python -m tests.fuzzing --cases 100000`` (see the package docstring)."""
import argparse
import sys
import time

import numpy as np

from . import KINDS, cases, run_cases
from .. import fuzzing as harness


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per kind (default 10000)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of: {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case-seconds", type=float, default=harness.CASE_SECONDS,
                        help=f"a case running longer fails as 'too slow' (default {harness.CASE_SECONDS})")
    parser.add_argument("--max-memory", type=float, metavar="GB",
                        help="limit the process's address space (RLIMIT_AS): a case that asks for more "
                             "fails with a MemoryError instead of swapping the machine")
    args = parser.parse_args(argv)
    harness.CASE_SECONDS = args.case_seconds
    if args.max_memory:
        import resource
        limit = int(args.max_memory * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
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
