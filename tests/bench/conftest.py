"""Benchmarks print their figures and compare against a baseline measured in the same run.

They are not part of `make test` (timed assertions would be flaky on a shared machine); run
them with `make bench`.
"""
