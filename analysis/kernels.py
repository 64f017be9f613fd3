"""Fresh Jupyter kernels, started ahead of need with the report's heavy imports already done.

Every report still runs in its own new kernel. Normally it is forked by the kernel factory, which
imported pandas, pyarrow and matplotlib once. A kernel started the usual way (another kernelspec,
or no factory) is warmed instead by a silent execute request, which leaves no trace in the notebook
(no cell, no execution count). Either way the kernel's state is exactly that of a kernel that
imported those modules and drew one small figure.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import uuid
from pathlib import Path

from .kernel_factory import ForkedKernelProcess, KernelFactory, forking_manager_class

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
# Runs in a function so that it leaves modules in sys.modules and no name in the notebook's namespace.
WARM_UP = """
def _warm_up():
    from analysis.kernel_factory import preload
    preload()
_warm_up()
del _warm_up
"""


# How long IOPub must stay quiet before a new client counts as ready. jupyter_client waits 0.2 s,
# at every kernel start, after the reply has come; a local kernel's last status message follows its
# reply within a millisecond.
IOPUB_QUIET_SECONDS = 0.02


@functools.cache
def quick_ready_client_class():
    """jupyter_client's asynchronous client, with the wait for a kernel's first reply made quicker."""
    import time
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class QuickReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """jupyter_client's own loop: a kernel_info reply, then IOPub heard from, then IOPub drained."""
            deadline = time.time() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    pass
                else:
                    if reply["msg_type"] == "kernel_info_reply":
                        try:  # no message on IOPub yet: it is not connected, start over
                            await self.iopub_channel.get_msg(timeout=IOPUB_QUIET_SECONDS)
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(reply)
                            break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.time() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
            while True:
                try:
                    await self.iopub_channel.get_msg(timeout=IOPUB_QUIET_SECONDS)
                except Empty:
                    break

    return QuickReadyClient


class WarmKernel:
    """A kernel started now and handed to papermill when needed: forked warm by ``factory``, or warmed up here."""

    def __init__(self, cwd: Path, factory: KernelFactory | None = None, environment: dict[str, str] | None = None):
        """Start the kernel in ``cwd``, with this process's environment updated by ``environment``
        (a factory forks only for the environment it was started with)."""
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.utils import run_sync

        # nbclient drives an asynchronous manager. IPC sockets keep it local with no TCP ports to race
        # for; each kernel needs its own socket path, or two kernels alive at once talk over each other.
        sockets = Path(tempfile.gettempdir()) / f"analysis-kernel-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.manager = forking_manager_class()(kernel_name=KERNEL_NAME, transport="ipc", ip=str(sockets))
        self.manager.factory = factory
        self.manager.client_factory = quick_ready_client_class()
        run_sync(self.manager.start_kernel)(cwd=str(cwd), env={**os.environ, **(environment or {})})
        self._client = None
        if not self.is_forked:  # a kernel started the usual way imports its libraries now, in the background
            self._client = BlockingKernelClient()
            self._client.load_connection_info(self.manager.get_connection_info())
            self._client.start_channels()
            self._client.execute(WARM_UP, silent=True, store_history=False)

    @property
    def _process(self):
        """The kernel's process (a Popen, or a ForkedKernelProcess), or None before its start or after its end."""
        return getattr(self.manager.provisioner, "process", None)

    @property
    def is_forked(self) -> bool:
        return isinstance(self._process, ForkedKernelProcess)

    def kill(self) -> None:
        """Kill the kernel's process at once, from any thread; the run using it then fails fast."""
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()

    def shutdown(self) -> None:
        """Stop the kernel and its channels; safe to call twice and after the kernel died."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.stop_channels()
        from jupyter_client.utils import run_sync

        # The notebook has run or failed: nothing to ask the kernel. Killing it and waiting here
        # (a few ms) saves jupyter_client's polling for its end, which sleeps 0.1 s at a time.
        process = self._process
        if process is not None:
            with contextlib.suppress(Exception):
                process.kill()
                process.wait(timeout=5)
        if self.manager.has_kernel:
            try:
                run_sync(self.manager.shutdown_kernel)(now=True)
            except Exception:  # a dead kernel cannot be asked to stop; make sure its process is gone
                log.debug("kernel shutdown failed; killing it", exc_info=True)
                with contextlib.suppress(Exception):
                    run_sync(self.manager.kill_kernel)()


@functools.cache
def register_engine() -> str:
    """Register, once, the papermill engine that writes the executed notebook once, not after every cell.

    Papermill's own manager rewrites the whole notebook before and after every cell (a second per
    report here, growing with the images). Ours leaves the writing to papermill, which writes the
    notebook when the run ends, with its error marker if a cell raised; only a run that ends in an
    exception (a timeout, a dead kernel), which papermill would not write, is written by the engine.
    Either way a failed run is kept whole in the private staging folder for debugging.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class SaveOnExceptionManager(NotebookExecutionManager):
        interrupted = False

        def save(self, **kwargs):
            if self.interrupted:
                super().save(**kwargs)

    class SaveOnExceptionEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False, **kwargs):
            kwargs.pop("autosave_cell_every", None)
            manager = SaveOnExceptionManager(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output)
            manager.notebook_start()
            try:
                cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
            except BaseException:
                manager.interrupted = True
                raise
            finally:
                manager.cleanup_pbar()
                manager.notebook_complete()
            return manager.nb

    papermill_engines.register(ENGINE_NAME, SaveOnExceptionEngine)
    # nbclient logs through papermill's logger ("Timeout waiting for execute reply (2s).") before it
    # raises what the render reports in its own words. With no handler of its own, Python's last-resort
    # handler printed that as a stray line; a program that configures logging still gets it.
    logging.getLogger("papermill").addHandler(logging.NullHandler())
    return ENGINE_NAME


ENGINE_NAME = "analysis-save-on-exception"
