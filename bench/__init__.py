"""bpfjit's benchmarks: corpus, runners and anchors (see bench/README.md).

A package so the scripts run as `python -m bench.run` from the repository
root and the smoke test can import them; importing it does nothing.
"""
