"""Shared test set-up: the default test run never waits on the network.

``CLOTHSTYLE_OFFLINE=1`` is set for the whole session (before any fixture, so that the
kernels and subprocesses the tests start inherit it): ``"auto"`` then looks only in the
weights cache. The tests that exercise downloading (``tests/test_weights.py``) remove it
for themselves and download from a loopback server on 127.0.0.1.
"""

from __future__ import annotations

import os


def pytest_configure(config):
    os.environ["CLOTHSTYLE_OFFLINE"] = "1"
