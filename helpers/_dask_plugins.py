"""Dask plugins of the catalogue job (imported only where Dask is, see helpers.catalogue)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed import WorkerPlugin


class IgnoreSigint(WorkerPlugin):
    """The worker process ignores SIGINT: Ctrl-C is for the driver, which stops the job,
    records what finished and closes the cluster (:func:`helpers.catalogue.dask_client`)."""

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
