"""Stand-ins shared by the tests (imported as ``from _fakes import ...``: pytest puts this
folder on ``sys.path``, as it does for ``conftest.py``)."""

import numpy as np


class FakeRunner:
    """U²-Net runner protocol stand-in: returns a fixed d0 and records the batches it got.

    ``output_is_logits`` defaults to what the architecture gives: logits for the cloth
    parser, sigmoid maps for the saliency networks.
    """

    def __init__(self, output, arch="u2netp", output_is_logits=None, backend="torch"):
        self.output = np.asarray(output, np.float32)
        self.arch = arch
        self.backend = backend
        self.output_is_logits = (arch == "u2net_cloth" if output_is_logits is None
                                 else output_is_logits)
        self.batches = []

    def __call__(self, batch):
        self.batches.append(batch)
        return self.output
