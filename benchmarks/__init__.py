"""Benchmarks of the pipeline's stages and of the claims made about their speed.

Run ``python -m benchmarks.run`` (full run, several minutes) or
``python -m benchmarks.run --quick`` (tiny sizes, one repeat, well under a minute).
See :mod:`benchmarks.run` for what is measured and how; results land in
``benchmarks/results/`` as JSON and as a markdown table.

:mod:`benchmarks.run` runs the measurements, one module per area:
:mod:`~benchmarks.common` (machine, inputs, timing, memory, child processes),
:mod:`~benchmarks.stages` (stage timings by size, blend against the original loops),
:mod:`~benchmarks.stylization` (our overhead over bare onnxruntime, float32 vs int8),
:mod:`~benchmarks.engines` (U²-Net engines, int8 agreement),
:mod:`~benchmarks.interactive` (re-blend, the 1 MP pipeline, end to end),
:mod:`~benchmarks.sharpness` (plain upscale vs guided detail) and
:mod:`~benchmarks.report` (targets and the markdown tables).
"""
