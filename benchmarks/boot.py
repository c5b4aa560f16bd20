"""Benchmark (not a test): time from `reference_stack()` to all three /health = 200, embedded backend.

Usage: python benchmarks/boot.py [--runs N]. Prints each run and the median; target <= 2.5 s on a 2-core machine.
(benchmarks/bench.py runs this as its boot section, next to the other benchmarks.)
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from reference_impl.stack.api import StackConfig, reference_stack


def boot_once(log_dir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    with reference_stack(
        StackConfig(backend="embedded", ports={"auth": 0, "users": 0, "webhook": 0}, log_dir=log_dir)
    ):
        ready = time.perf_counter() - started
    return ready, time.perf_counter() - started - ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        boot_once(Path(tmp) / "warm-up")  # builds the initdb template and the bytecode caches once
        results = [boot_once(Path(tmp) / f"run-{i}") for i in range(args.runs)]
    for i, (ready, stop) in enumerate(results, 1):
        print(f"run {i}: healthy after {ready:.2f}s, stopped in {stop:.2f}s")
    print(
        f"boot to all-healthy, median of {args.runs}: {statistics.median(r for r, _ in results):.2f}s (target <= 2.5 s)"
    )


if __name__ == "__main__":
    main()
