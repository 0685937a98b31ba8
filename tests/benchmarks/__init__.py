"""`make bench`: what Deckwatch costs in time, memory, size and money, measured where it can be and estimated from
traced runs where it cannot (no AWS account here). `python -m benchmarks --help` (with tests/ on sys.path).

Outside the test suite on purpose: timings depend on the machine. tests/test_bench.py only runs `--tiny` and
checks the JSON's structure and invariants, never a timing.
"""
