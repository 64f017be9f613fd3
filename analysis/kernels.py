"""Fresh Jupyter kernels, started ahead of need and warmed with the report's heavy imports.

Every report still runs in its own new kernel; starting it early and importing pandas, pyarrow and
matplotlib in it while the parent does other work only moves that fixed cost off the critical path.
The warm-up is a silent execute request, so it leaves no trace in the notebook (no cell, no
execution count) and the kernel's state is exactly that of a kernel that imported those modules.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
WARM_UP = "import pandas, pyarrow, matplotlib, matplotlib.figure\nimport analysis.report, analysis.charts"


class WarmKernel:
    """A kernel started now, warming up in the background, handed to papermill when needed."""

    def __init__(self, cwd: Path):
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_client.utils import run_sync

        # nbclient drives an asynchronous manager; IPC sockets keep it local with no TCP ports to race for.
        self.manager = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc")
        run_sync(self.manager.start_kernel)(cwd=str(cwd))
        self._client = BlockingKernelClient()
        self._client.load_connection_info(self.manager.get_connection_info())
        self._client.start_channels()
        self._client.execute(WARM_UP, silent=True, store_history=False)

    def shutdown(self) -> None:
        """Stop the kernel and its channels; safe to call twice and after the kernel died."""
        with contextlib.suppress(Exception):
            self._client.stop_channels()
        from jupyter_client.utils import run_sync

        if self.manager.has_kernel:
            try:
                run_sync(self.manager.shutdown_kernel)(now=True)
            except Exception:  # a dead kernel cannot be asked to stop; make sure its process is gone
                log.debug("kernel shutdown failed; killing it", exc_info=True)
                with contextlib.suppress(Exception):
                    run_sync(self.manager.kill_kernel)()
