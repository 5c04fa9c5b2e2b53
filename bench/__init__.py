"""The fan-out benchmark: `make bench` (quick) or `make bench-full`; see docs/performance.md."""
