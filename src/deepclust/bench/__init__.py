"""Benchmarks and reproductions: run methods over seeds, write committed result files."""
