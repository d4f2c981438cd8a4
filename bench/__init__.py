"""Benchmarks for mail2fax, run apart from the test suite: ``python -m bench`` (see docs/benchmarks.md).

Every measurement starts the compared servers as separate processes on 127.0.0.1 port 0, in
interleaved rounds, and drives them from this process.
"""
