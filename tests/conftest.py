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


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty weights cache for this test (``$CLOTHSTYLE_CACHE_DIR``)."""
    from helpers import weights

    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "weights"))
    return tmp_path / "weights"


@pytest.fixture
def unreachable_weights(empty_cache, monkeypatch):
    """An empty cache and every download failing at once, as with no network."""
    from helpers import weights

    def no_network(source, *args, **kwargs):
        raise OSError(f"no network in this test ({source.ref})")

    monkeypatch.setattr(weights, "_fetch", no_network)
    return empty_cache
