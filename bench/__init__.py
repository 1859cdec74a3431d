"""Benchmarks of trainjobs; each module runs with `python -m bench.<name>`."""
