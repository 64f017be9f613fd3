"""A kernel factory: one process imports the kernel's libraries once, then forks a fresh kernel per report.

Starting a kernel the usual way runs a new Python that imports ipykernel, pandas, pyarrow and
matplotlib again for every report: about 1.5 s of CPU each time. The factory does those imports
once (no notebook code, no kernel, no connection file) and then, on request, forks a child that
starts ``IPKernelApp`` on the connection file it is given, exactly as ``python -m ipykernel_launcher
-f FILE`` would. Every report still gets a new process, whose only inheritance is the imported
modules and a drawn warm-up figure: the same state as the warmed kernels it replaces.

The factory starts with the kernelspec's interpreter options (``-Xfrozen_modules=off`` for
ipykernel's own) and forks only when the kernel jupyter_client would launch is exactly its own
interpreter, options and environment running ipykernel; for anything else it answers "not
forkable" and jupyter_client launches the kernel as usual. The factory lives as long as the render
that started it. When that render's end of the channel closes (normal end, crash or kill), the
factory kills its kernels, removes their socket files and exits; a kernel whose factory dies is
killed by the system (``PR_SET_PDEATHSIG``).

Protocol: one JSON object per line over a socket pair, each request answered by one reply.
``{"fork": {...}}`` -> ``{"pid": N}`` or ``{"not_forkable": reason}``; ``{"poll": N}`` ->
``{"status": exit code or null}``; a factory that fails answers ``{"error": message}``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

# What the render's kernels import; done once in the factory, before any fork.
PRELOADED_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "pandas",
    "pyarrow",
    "matplotlib.figure",
    "analysis.report",
    "analysis.charts",
)
FACTORY_MODULE = "analysis.kernel_factory"  # run as a program; also in its kernels' command line
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# The first fork waits for the factory's imports (about a second; longer while matplotlib builds its
# font cache on a fresh machine). Past this, the kernel is launched the usual way instead.
REPLY_TIMEOUT_SECONDS = 60
PARENT_PID_VARIABLE = "ANALYSIS_KERNEL_FACTORY_PARENT"  # lets a test find a factory its render left behind
_PR_SET_PDEATHSIG = 1

log = logging.getLogger(__name__)


def ipykernel_command(options: list[str], connection_file: str) -> list[str]:
    """How jupyter_client starts an ipykernel kernelspec in this interpreter with interpreter ``options``."""
    return [sys.executable, *options, "-m", "ipykernel_launcher", "-f", connection_file]


def interpreter_options(argv: list[str]) -> list[str] | None:
    """The interpreter options of a kernelspec's ``argv`` that runs ipykernel in this interpreter, else None.

    jupyter_client runs ``python``, ``python3`` and ``python3.N`` as this interpreter.
    """
    if not argv:
        return None
    python, *rest = argv
    major, minor = sys.version_info[:2]
    if python not in ("python", f"python{major}", f"python{major}.{minor}", sys.executable):
        return None
    options, tail = rest[:-4], rest[-4:]
    if tail != ["-m", "ipykernel_launcher", "-f", "{connection_file}"] or not all(o.startswith("-") for o in options):
        return None
    return options


class FactoryError(RuntimeError):
    """The factory process is gone or answered nonsense."""


class NotForkable(FactoryError):
    """The kernel would not start as the factory did (another command or environment): it is launched as usual."""


class KernelFactory:
    """The render's side: starts the factory at once and asks it for kernels."""

    def __init__(self, kernel_name: str, environment: dict[str, str] | None = None):
        """Start the factory; its kernels run with this process's environment updated by ``environment``."""
        ours, theirs = socket.socketpair()
        environment = {**os.environ, **(environment or {}), PARENT_PID_VARIABLE: str(os.getpid())}
        options = _guess_interpreter_options(kernel_name)
        # Started with SIGINT blocked (the mask survives exec): a Ctrl-C before it ignores SIGINT would
        # otherwise print a traceback from the middle of its start-up.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with theirs:
                self.process = subprocess.Popen(
                    [sys.executable, *options, "-m", FACTORY_MODULE, str(theirs.fileno())],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    env=environment,
                )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        ours.settimeout(REPLY_TIMEOUT_SECONDS)
        self._channel = ours
        self._replies = ours.makefile("rb")
        self._lock = threading.Lock()
        self._closed = False
        self.stopping = False

    def _request(self, message: dict) -> dict:
        with self._lock:
            if self._closed:
                raise FactoryError("the kernel factory was closed")
            try:
                self._channel.sendall(json.dumps(message).encode() + b"\n")
                line = self._replies.readline()
                if not line:
                    raise FactoryError(f"the kernel factory exited (code {self.process.poll()})")
                reply = json.loads(line)
                if "error" in reply:
                    raise FactoryError(reply["error"])
                if "not_forkable" in reply:
                    raise NotForkable(reply["not_forkable"])
            except NotForkable:
                raise
            except (OSError, ValueError, FactoryError) as error:  # a late reply would answer the wrong request
                self._close_channel()
                with contextlib.suppress(OSError):
                    self.process.kill()
                raise FactoryError(str(error) if isinstance(error, FactoryError) else f"kernel factory: {error}") from None
        return reply

    def fork(self, command: list[str], connection_file: str, cwd: str | None, environment: dict[str, str]):
        """A new kernel on ``connection_file``, forked if that is what ``command`` would start; waits
        for the factory's imports the first time.

        Raises:
            NotForkable: ``command`` or ``environment`` is not the factory's own.
            FactoryError: the factory is gone or does not answer.
        """
        request = {"command": command, "connection_file": connection_file, "cwd": cwd, "env": environment}
        return ForkedKernelProcess(self._request({"fork": request})["pid"], self)

    def poll(self, pid: int) -> int | None:
        """The kernel's exit code once it has ended (the factory then reaps it), else None."""
        return self._request({"poll": pid})["status"]

    def _close_channel(self) -> None:
        self._closed = True
        self._replies.close()
        self._channel.close()

    def stop(self) -> None:
        """From any thread, without waiting: end the factory and its kernels now.

        A fork waiting for the factory then fails at once, and no kernel is started without it
        instead. ``close`` still waits for the factory's end.
        """
        self.stopping = True
        with contextlib.suppress(OSError):
            self.process.terminate()

    def close(self) -> None:
        """End the factory and any kernel it still has; safe to call twice."""
        self.stopping = True  # a launch still under way (its thread may outlive the render) starts no kernel
        with self._lock:
            if not self._closed:
                self._close_channel()
        with contextlib.suppress(OSError):  # it may still be importing, and would see the closed channel only later
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _guess_interpreter_options(kernel_name: str) -> list[str]:
    """The options the kernelspec gives its interpreter (``-Xfrozen_modules=off`` for ipykernel's own).

    Read from the first ``kernels/<name>/kernel.json`` on the Jupyter path, without importing
    jupyter_client (0.1 s, before the factory could start). A wrong guess costs only speed: the
    factory forks only a kernel whose real command is its own.
    """
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("kernels"):
        spec = Path(folder) / kernel_name / "kernel.json"
        if spec.is_file():
            try:
                return interpreter_options(json.loads(spec.read_text(encoding="utf-8"))["argv"]) or []
            except (OSError, ValueError, KeyError, TypeError):
                return []
    return []  # ipykernel's built-in kernelspec: no options


def start_factory(kernel_name: str, environment: dict[str, str] | None = None) -> KernelFactory | None:
    """A new factory for ``kernel_name`` (see KernelFactory), or None if no process starts (kernels are then launched)."""
    try:
        return KernelFactory(kernel_name, environment)
    except OSError as error:
        log.warning("cannot start the kernel factory (%s); kernels will be launched one by one", error)
        return None


@contextlib.contextmanager
def running_factory(
    kernel_name: str, wanted: bool = True, environment: dict[str, str] | None = None
) -> Iterator[KernelFactory | None]:
    """A factory (if ``wanted`` and one starts) for the duration of the block, closed however it ends."""
    factory = start_factory(kernel_name, environment) if wanted else None
    try:
        yield factory
    finally:
        if factory is not None:
            factory.close()


class ForkedKernelProcess:
    """A forked kernel, with the part of ``subprocess.Popen`` that jupyter_client's provisioner uses.

    The kernel is the factory's child, so the factory reaps it and reports its exit code; until we
    have seen that code the pid cannot be reused, so signalling it is safe.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, factory: KernelFactory):
        self.pid = pid
        self.returncode: int | None = None
        self._factory = factory
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                try:
                    self.returncode = self._factory.poll(self.pid)
                except FactoryError:  # the factory is gone, and its kernels with it
                    self.returncode = -signal.SIGKILL
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        with self._lock:
            if self.returncode is None:
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


@functools.cache
def forking_manager_class():
    """jupyter_client's AsyncKernelManager, asking a KernelFactory for the kernel when that is equivalent."""
    from jupyter_client.manager import AsyncKernelManager

    class ForkingKernelManager(AsyncKernelManager):
        factory: KernelFactory | None = None

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
            if self.factory is None:
                await super()._async_launch_kernel(kernel_cmd, **kw)
                return
            # As jupyter_client's launcher does for the kernels it starts in a new session.
            environment = {**(kw.get("env") or os.environ), "JPY_PARENT_PID": str(os.getpid())}
            try:
                process = self.factory.fork(kernel_cmd, self.connection_file, kw.get("cwd"), environment)
            except FactoryError as error:  # only an optimization: start the kernel the usual way
                if self.factory.stopping:  # unless the render is stopping
                    raise
                level = logging.DEBUG if isinstance(error, NotForkable) else logging.WARNING
                log.log(level, "%s; starting the kernel without the kernel factory", error)
                self.factory = None
                await super()._async_launch_kernel(kernel_cmd, **kw)
                return
            provisioner = self.provisioner
            provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, process.pid
            provisioner.cwd = kw.get("cwd")
            self._reconcile_connection_info(provisioner.connection_info)

    return ForkingKernelManager


# --- the factory process ------------------------------------------------------------------------------


def preload() -> None:
    """Import what every report's kernel needs and draw a small figure (fonts, PNG writer)."""
    import io

    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.text(0, 0, "warm", weight="bold")
    figure.text(0, 0.5, "warm")
    figure.savefig(io.BytesIO(), format="png")


def die_with_parent(parent_pid: int, signum: int) -> bool:
    """Have Linux send ``signum`` to this process when its parent ends; False if ``parent_pid`` has ended already."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    return os.getppid() == parent_pid  # checked after prctl: the parent may have died just before it


def _run_kernel(channel: socket.socket, factory_pid: int, request: dict) -> None:
    """In the forked child: become a kernel, as ``python -m ipykernel_launcher -f FILE`` would. Never returns."""
    code = 1
    try:
        gc.enable()  # the kernel collects garbage as any kernel does
        channel.close()
        os.setsid()  # as jupyter_client does: the kernel and what it starts form their own group
        if not die_with_parent(factory_pid, signal.SIGKILL):
            os._exit(1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        if request["cwd"]:
            os.chdir(request["cwd"])
        import matplotlib
        import numpy.random

        # matplotlib read MPLBACKEND when the factory imported it; ipykernel sets the inline backend if unset.
        matplotlib.rcParams["backend"] = os.environ.get("MPLBACKEND") or INLINE_BACKEND

        numpy.random.seed()  # a new process would draw fresh entropy; a fork would copy the factory's state
        from ipykernel import kernelapp

        sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, "-f", request["connection_file"]]
        sys.orig_argv = request["command"]
        # Read from the environment when ipykernel was imported, that is in the factory: set it as the kernel's.
        parent = f"--IPKernelApp.parent_handle={os.environ.get('JPY_PARENT_PID') or 0}"
        kernelapp.IPKernelApp.launch_instance(argv=[*sys.argv[1:], parent])
        code = 0
    except SystemExit as error:
        code = error.code if isinstance(error.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _kill_all(kernels: dict[int, list[str]]) -> None:
    """Kill the kernels still running, and remove their socket files, which their render can no longer remove."""
    for pid in kernels:
        # Its group (the kernel and what it forked), and the kernel itself: just forked, it may not
        # have made its own group yet, and waiting for it would then wait for ever.
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)
    for pid, sockets in kernels.items():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        for path in sockets:
            with contextlib.suppress(OSError):
                os.unlink(path)


SOCKET_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def ipc_socket_files(connection_file: str) -> list[str]:
    """The socket files a kernel on the ipc transport binds, as its connection file gives them (none for tcp)."""
    try:
        info = json.loads(Path(connection_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(info, dict) or info.get("transport") != "ipc":
        return []
    return [f"{info['ip']}-{info[port]}" for port in SOCKET_PORTS if port in info]


def _own_options() -> list[str]:
    """This interpreter's options, such as ``-Xfrozen_modules=off``: what came before ``-m``."""
    return sys.orig_argv[1 : sys.orig_argv.index("-m")]


# What jupyter_client and our manager add to a kernel's environment when they launch it.
LAUNCH_VARIABLES = ("JPY_PARENT_PID", "JPY_SESSION_NAME")


def _refusal(request: dict, startup_environment: dict[str, str]) -> str | None:
    """Why forking would not give the kernel that ``request``'s command would start, or None.

    Same interpreter, same options, ipykernel, and the environment this factory started with:
    anything else (another kernelspec, a kernelspec with its own variables, some of which act only
    when Python starts) is launched as usual.
    """
    if request["command"] != ipykernel_command(_own_options(), request["connection_file"]):
        return f"the kernel command {request['command'][:-1]} is not this factory's interpreter running ipykernel"
    environment = {key: value for key, value in request["env"].items() if key not in LAUNCH_VARIABLES}
    if environment != startup_environment:
        changed = sorted(set(environment.items()) ^ set(startup_environment.items()))
        return f"the kernel's environment differs from the factory's ({', '.join(key for key, _ in changed)})"
    return None


def serve(channel_fd: int) -> None:
    """The factory's main loop: import once, then answer requests until the render closes the channel."""
    startup_environment = {key: value for key, value in os.environ.items() if key != PARENT_PID_VARIABLE}
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():  # as ipykernel_launcher does, for the same kernels
        del sys.path[0]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the render's to handle; it then closes us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by KernelFactory until now
    channel = socket.socket(fileno=channel_fd)
    requests = channel.makefile("rb")
    kernels: dict[int, list[str]] = {}  # running kernel -> its socket files

    def end_on_signal(signum, frame) -> None:
        # How the render closes us, maybe while we import. Raising here could land in a weakref
        # callback an import runs, where Python drops the exception (printing it) and carries on.
        _kill_all(kernels)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, end_on_signal)
    factory_pid = os.getpid()
    # As Python's documentation advises for a process that forks: no collection here, where next to
    # nothing is garbage (it made a quarter of the imports' time), and the kernels inherit what the
    # imports made frozen: their collector never walks it, nor writes to its pages, which stay shared.
    gc.disable()
    try:
        preload()
        gc.freeze()
        for line in requests:
            request = json.loads(line)
            refusal = _refusal(request["fork"], startup_environment) if "fork" in request else None
            if refusal:
                reply = {"not_forkable": refusal}
            elif "fork" in request:
                pid = os.fork()
                if pid == 0:
                    _run_kernel(channel, factory_pid, request["fork"])
                kernels[pid] = ipc_socket_files(request["fork"]["connection_file"])
                reply = {"pid": pid}
            else:
                pid, status = os.waitpid(request["poll"], os.WNOHANG)
                reply = {"status": os.waitstatus_to_exitcode(status) if pid else None}
                if pid:
                    kernels.pop(pid, None)
            channel.sendall(json.dumps(reply).encode() + b"\n")
    except BrokenPipeError:
        pass
    except Exception as error:  # e.g. an import that fails: the render reports it when it asks for a kernel
        with contextlib.suppress(OSError):
            channel.sendall(json.dumps({"error": f"kernel factory failed: {error!r}"}).encode() + b"\n")
    finally:
        _kill_all(kernels)


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    finally:
        os._exit(0)  # nothing to flush; tearing down these modules would only keep the render waiting
