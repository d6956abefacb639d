"""Shared test set-up: the default test run never waits on the network.

``CLOTHSTYLE_OFFLINE=1`` is set for the whole session (before any fixture, so that the
kernels and subprocesses the tests start inherit it): ``"auto"`` then looks only in the
weights cache. The tests that exercise downloading (``tests/test_weights.py``) remove it
for themselves and download from a loopback server on 127.0.0.1.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    os.environ["CLOTHSTYLE_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def dask_cluster():
    """One local Dask cluster of 2 worker processes for the tests that pass ``--cluster``.

    Started on first use and shared, so that its workers load the models once for all
    of those tests; closed at the end of the session.
    """
    distributed = pytest.importorskip("distributed", reason="pip install distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster.scheduler_address
