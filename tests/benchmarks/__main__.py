"""`python -m benchmarks` (tests/ on sys.path): see benchmarks.run."""

from benchmarks.run import main

main()
