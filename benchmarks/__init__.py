"""Speed, scale and accuracy benchmarks; `make bench` (or `python -m benchmarks`) runs them all."""
