"""Interactive cloth segmentation with saliency-guided style transfer.

Plain functions over one array contract: images are ``(H, W, 3) uint8`` RGB, masks,
alphas and saliency maps ``(H, W) float32`` in [0, 1], label maps ``(H, W) uint8``.
Heavy back-ends (torch, onnxruntime, TensorFlow) load lazily inside the modules that
need them, so ``import helpers`` stays cheap.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The project root (the folder that holds ``helpers/``, ``notebooks/`` and ``results/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
RESULTS_DIR = PROJECT_ROOT / "results"
