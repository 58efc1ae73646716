"""`make bench`: the real stack on loopback, measured (see docs/benchmarks.md)."""
