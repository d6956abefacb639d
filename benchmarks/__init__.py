"""Benchmarks of the pipeline's stages and of the claims made about their speed.

Run ``python -m benchmarks.run`` (full run, several minutes) or
``python -m benchmarks.run --quick`` (tiny sizes, one repeat, well under a minute).
See :mod:`benchmarks.run` for what is measured and how; results land in
``benchmarks/results/`` as JSON and as a markdown table.
"""
