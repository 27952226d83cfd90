"""Regenerate benchmarks/RESULTS.md from benchmarks/results/**.json (same as `deepclust results-md`).

    python benchmarks/make_results_md.py
"""
import sys

from deepclust.bench.results_md import write_results_md

if __name__ == "__main__":
    results = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results"
    out = sys.argv[2] if len(sys.argv) > 2 else "benchmarks/RESULTS.md"
    print(f"wrote {write_results_md(results, out)}")
