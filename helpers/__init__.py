"""Interactive cloth segmentation with saliency-guided style transfer.

Plain functions over one array contract: images are ``(H, W, 3) uint8`` RGB, masks,
alphas and saliency maps ``(H, W) float32`` in [0, 1], label maps ``(H, W) uint8``.
Heavy back-ends (torch, onnxruntime, TensorFlow) load lazily inside the modules that
need them, so ``import helpers`` stays cheap.
"""

from pathlib import Path

__version__ = "0.1.0"



def _project_root() -> Path:
    """The checkout that holds this package, else (an installed copy) the current folder."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout
    return Path.cwd()


#: The project root: the checkout that holds ``helpers/``, ``notebooks/`` and ``results/``
#: (also with ``pip install -e .``); for a copy installed from a wheel or from git (as the
#: notebooks do in Colab), the folder Python started in, where ``data/`` and ``results/``
#: then go.
PROJECT_ROOT = _project_root()
DATA_DIR = PROJECT_ROOT / "data"
RESULTS_DIR = PROJECT_ROOT / "results"
