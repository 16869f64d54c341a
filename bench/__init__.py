"""Benchmarks that print tables (and write JSON to bench/results/); never timed tests."""
