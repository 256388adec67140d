"""The deterministic simulation of the pay core, seed by seed.

    python -m loadtests.simulate [--seeds 2000] [--first 0] [--pays 8] [--seed N]

Each seed is one whole run (``loadtests/simulation/world.py``): the real pay state
machine and its interpreters in two switch processes over in-process fakes of the
ledger, the pay records and a biller, on a virtual clock, with delays, lost replies,
refusals, late arrivals, stalls past recovery's idle time and crashes drawn from the
seed. The same seed is the same run. Prints seeds/s; a failing seed is printed with
the command that runs it again, alone, with the switch's logs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback

from loadtests.simulation.world import Options, run_seed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=2000, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=0, help="the first seed")
    parser.add_argument("--seed", type=int, default=None, help="run this one seed, with logs")
    parser.add_argument("--pays", type=int, default=8, help="pays per seed")
    args = parser.parse_args()
    options = Options(pays=args.pays)
    if args.seed is not None:
        logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
        outcome = run_seed(args.seed, options)
        print(outcome)
        sys.exit(1 if outcome.problems else 0)
    logging.disable(logging.CRITICAL)  # thousands of runs: the switch's logs are noise
    started = time.perf_counter()
    failed = run_many(range(args.first, args.first + args.seeds), options)
    took = time.perf_counter() - started
    print(f"{args.seeds} seeds in {took:.1f} s: {args.seeds / took:.0f} seeds/s")
    sys.exit(1 if failed else 0)


def run_many(seeds: range, options: Options) -> list[int]:
    """Run each seed; print each failure and how to run it again; the failed seeds."""
    failed = []
    for seed in seeds:
        try:
            problems = run_seed(seed, options).problems
        except Exception:
            problems = [traceback.format_exc(limit=-3)]
        if problems:
            failed.append(seed)
            print(f"seed {seed} FAILED: python -m loadtests.simulate --seed {seed}")
            for problem in problems:
                print("   ", problem.strip().replace("\n", "\n    "))
    return failed


if __name__ == "__main__":
    main()
