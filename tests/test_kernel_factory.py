"""The kernel factory: a forked kernel is a fresh kernel like a launched one, and none outlives its render."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPO, alive, planted_sitecustomize, wait_until_gone

from analysis import kernel_factory
from analysis import render as render_module
from analysis.kernel_factory import PARENT_PID_VARIABLE, KernelFactory, interpreter_options
from analysis.kernels import WarmKernel

pytestmark = pytest.mark.slow

# What a kernel looks like from inside: everything a notebook could observe about how it was started.
FINGERPRINT = textwrap.dedent(
    """
    def _fingerprint():
        import gc, json, os, signal, sys
        import matplotlib.pyplot
        import numpy
        from ipykernel.kernelapp import IPKernelApp
        return json.dumps({
            "cwd": os.getcwd(),
            "argv": sys.argv[:2],  # then the connection file, which is each kernel's own
            "orig_argv": sys.orig_argv[:-1],
            "xoptions": sys._xoptions,
            "flags": repr(sys.flags),
            "path0": sys.path[0],
            "environment": sorted(set(os.environ) - {"JPY_SESSION_NAME"}),
            "JPY_PARENT_PID": os.environ.get("JPY_PARENT_PID"),
            "MPLBACKEND": os.environ.get("MPLBACKEND"),
            "backend": matplotlib.get_backend(),
            "parent_handle": IPKernelApp.instance().parent_handle,
            "own_session": os.getsid(0) == os.getpid(),
            "sigint": getattr(signal.getsignal(signal.SIGINT), "__name__", str(signal.getsignal(signal.SIGINT))),
            "sigterm": str(signal.getsignal(signal.SIGTERM)),
            "main": sys.modules["__main__"].__name__,
            "names": sorted(name for name in globals() if not name.startswith("_")),
            "collects_garbage": gc.isenabled(),
            "draw": numpy.random.random(),
        })
    print(_fingerprint())
    """
)


def run(kernel: WarmKernel, code: str) -> str:
    """Run ``code`` in the kernel and return what it printed."""
    from jupyter_client.blocking import BlockingKernelClient

    client = BlockingKernelClient()
    client.load_connection_info(kernel.manager.get_connection_info())
    client.start_channels()
    printed = []
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(
            code,
            timeout=60,
            output_hook=lambda message: printed.append(message["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
    return "".join(printed)


@contextlib.contextmanager
def started_factory():
    """A factory started in the test's body: pytest's PYTEST_CURRENT_TEST differs between a fixture's
    setup and the test, and a factory forks only for the environment it started with."""
    factory = KernelFactory("python3")
    try:
        yield factory
    finally:
        factory.close()


@contextlib.contextmanager
def warm_kernel(cwd: Path, factory: KernelFactory | None):
    """A WarmKernel for the block, shut down however it ends."""
    kernel = WarmKernel(cwd, factory)
    try:
        yield kernel
    finally:
        kernel.shutdown()


def test_only_a_kernelspec_running_ipykernel_in_this_interpreter_is_forked():
    tail = ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert interpreter_options(["python", *tail]) == []
    assert interpreter_options([sys.executable, "-Xfrozen_modules=off", *tail]) == ["-Xfrozen_modules=off"]
    assert interpreter_options(["/other/python", *tail]) is None
    assert interpreter_options(["python", *tail, "--debug"]) is None
    assert interpreter_options(["python", "script.py", *tail]) is None
    assert interpreter_options(["python", "-m", "other_kernel", "-f", "{connection_file}"]) is None
    assert interpreter_options([]) is None


def test_a_factory_for_another_kernelspec_forks_nothing(tmp_path, monkeypatch, caplog):
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel_json = {"argv": argv, "env": {"EXTRA": "1"}, "display_name": "x", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel_json))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    caplog.set_level("DEBUG", logger="analysis.kernel_factory")
    with started_factory() as factory, warm_kernel(tmp_path, factory) as kernel:
        assert not kernel.is_forked
        assert run(kernel, "import os; print(os.environ['EXTRA'])").strip() == "1"
    assert "the kernel's environment differs from the factory's (EXTRA)" in caplog.text
    assert "WARNING" not in caplog.text


def test_a_forked_kernel_looks_like_a_launched_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # ipykernel then chooses the inline backend, in both
    with started_factory() as factory, warm_kernel(tmp_path, factory) as forked, warm_kernel(tmp_path, None) as launched:
        assert forked.is_forked and not launched.is_forked
        assert psutil.Process(forked.manager.provisioner.pid).ppid() == factory.process.pid
        seen = {name: json.loads(run(kernel, FINGERPRINT)) for name, kernel in (("forked", forked), ("launched", launched))}
    draws = {name: print_out.pop("draw") for name, print_out in seen.items()}
    assert seen["forked"] == seen["launched"]
    assert seen["forked"]["cwd"] == str(tmp_path) and seen["forked"]["path0"] != str(REPO)
    assert seen["forked"]["backend"] == "module://matplotlib_inline.backend_inline"
    assert seen["forked"]["JPY_PARENT_PID"] == str(os.getpid()) == str(seen["forked"]["parent_handle"])
    assert draws["forked"] != draws["launched"]


def test_forked_kernels_do_not_share_random_state_or_names(tmp_path):
    with started_factory() as factory, warm_kernel(tmp_path, factory) as first, warm_kernel(tmp_path, factory) as second:
        assert first.is_forked and second.is_forked
        assert first.manager.provisioner.pid != second.manager.provisioner.pid
        code = "import random, numpy\nSET_BY_THIS_KERNEL = 1\nprint(random.random(), numpy.random.random())"
        assert run(first, code) != run(second, code)
        assert run(second, "print('SET_BY_THIS_KERNEL' in globals())").strip() == "True"
        with warm_kernel(tmp_path, factory) as third:
            assert run(third, "print('SET_BY_THIS_KERNEL' in globals())").strip() == "False"


def test_a_killed_kernel_is_reported_dead_with_its_signal(tmp_path):
    with started_factory() as factory:
        kernel = WarmKernel(tmp_path, factory)
        process = kernel.manager.provisioner.process
        assert kernel.is_forked and process.poll() is None
        kernel.kill()
        assert process.wait(timeout=5) == -signal.SIGKILL
        kernel.shutdown()


def test_a_kernel_started_with_another_environment_is_launched(tmp_path, monkeypatch, caplog):
    # Some variables act only when Python starts (PYTHONHASHSEED, OPENBLAS_NUM_THREADS, ...).
    caplog.set_level("DEBUG", logger="analysis.kernel_factory")
    with started_factory() as factory:
        monkeypatch.setenv("PYTHONHASHSEED", "0")
        with warm_kernel(tmp_path, factory) as kernel:
            assert not kernel.is_forked
            assert run(kernel, "import sys; print(sys.flags.hash_randomization)").strip() == "0"
    assert "the kernel's environment differs from the factory's (PYTHONHASHSEED)" in caplog.text


def test_closing_the_factory_ends_the_kernels_it_still_has(tmp_path):
    factory = KernelFactory("python3")
    kernel = WarmKernel(tmp_path, factory)
    pids = [factory.process.pid, kernel.manager.provisioner.pid]
    factory.close()
    assert wait_until_gone(pids) == []
    kernel.shutdown()


@pytest.mark.slow
def test_a_kernel_killed_before_it_made_its_own_process_group_is_not_waited_for_for_ever():
    # The factory can end (its render or worker killed) just after a fork, before the kernel's setsid:
    # killing the kernel's group alone then kills nothing, and the factory waited for it for good.
    pid = os.fork()
    if pid == 0:  # a kernel that has not yet left the factory's group
        time.sleep(0.5)
        os.setsid()
        time.sleep(30)
        os._exit(0)
    started = time.monotonic()
    kernel_factory._kill_all({pid: []})
    assert time.monotonic() - started < 5
    assert not alive(pid)


def test_a_factory_closed_while_it_imports_ends_quietly(tmp_path):
    # The render closes a factory with SIGTERM, maybe while it imports; the handler may then run
    # inside a weakref callback that the import machinery runs, where Python drops an exception and
    # prints it (a traceback in the render's output). Planted here: SIGTERM's handler runs in one.
    planted = """
        import signal, sys, weakref

        class SigtermInsideACallback:
            def find_spec(self, name, path=None, target=None):
                if name == "pandas":
                    class Referent:
                        pass

                    referent = Referent()
                    reference = weakref.ref(referent, lambda ref: signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None))
                    del referent

        sys.meta_path.insert(0, SigtermInsideACallback())
        """
    python_path = planted_sitecustomize(tmp_path, planted)
    ours, theirs = socket.socketpair()
    try:
        result = subprocess.run(
            [sys.executable, "-m", kernel_factory.FACTORY_MODULE, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env={**os.environ, "PYTHONPATH": python_path},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        ours.close()
        theirs.close()
    assert (result.returncode, result.stderr) == (128 + signal.SIGTERM, "")


def test_a_factory_that_died_falls_back_to_a_launched_kernel(tmp_path, caplog):
    with started_factory() as factory:
        factory.process.kill()
        factory.process.wait()
        with warm_kernel(tmp_path, factory) as kernel:
            assert not kernel.is_forked
            assert run(kernel, "print(6 * 7)").strip() == "42"
    assert "starting the kernel without the kernel factory" in caplog.text


def test_a_killed_render_leaves_no_factory_no_kernel_and_no_socket_file(tmp_path):
    # The render's end of the channel closes when it dies: the factory kills its kernels, removes the
    # socket files that jupyter_client would have removed, and exits.
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from analysis.kernel_factory import KernelFactory
        from analysis.kernels import WarmKernel
        factory = KernelFactory("python3")
        kernel = WarmKernel(Path({str(tmp_path)!r}), factory)
        print(factory.process.pid, kernel.manager.provisioner.pid, flush=True)
        time.sleep(600)
        """
    )
    render = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pattern = f"analysis-kernel-{render.pid}-*"
    try:
        pids = [int(pid) for pid in render.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        assert psutil.Process(pids[0]).environ()[PARENT_PID_VARIABLE] == str(render.pid)
        deadline = time.monotonic() + 30
        while len(bound := list(Path(tempfile.gettempdir()).glob(pattern))) < 5:  # shell, iopub, stdin, control, heartbeat
            assert time.monotonic() < deadline, f"the kernel bound only {bound}"
            time.sleep(0.05)
    finally:
        render.kill()
        render.wait()
    assert wait_until_gone(pids) == []
    assert [path for path in bound if path.exists()] == []


def test_a_factory_that_does_not_answer_in_time_is_abandoned_for_a_launched_kernel(tmp_path, caplog, monkeypatch):
    # Its imports take longer than the time allowed: the kernel is launched the usual way, and the
    # factory, whose late answer would reply to the wrong request, is killed.
    monkeypatch.setattr(kernel_factory, "REPLY_TIMEOUT_SECONDS", 0.05)
    with started_factory() as factory, warm_kernel(tmp_path, factory) as kernel:
        assert not kernel.is_forked
        assert run(kernel, "print(6 * 7)").strip() == "42"
        assert factory.process.wait(timeout=10) != 0
    assert "timed out" in caplog.text and "starting the kernel without the kernel factory" in caplog.text


def test_a_render_without_a_factory_launches_its_kernels(tmp_path, monkeypatch, caplog):
    def no_process(*args, **kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(kernel_factory.subprocess, "Popen", no_process)
    assert kernel_factory.start_factory("python3") is None
    assert "cannot start the kernel factory" in caplog.text
    monkeypatch.undo()
    monkeypatch.setattr(kernel_factory, "start_factory", lambda kernel_name, environment=None: None)
    out = tmp_path / "out"
    out.mkdir()
    results = render_module.render(names=["crisis"], out_dir=out, formats=("html",))
    assert [result.name for result in results] == ["crisis"] and (out / "crisis.html").is_file()


def test_the_factory_starts_with_the_kernelspecs_interpreter_options(tmp_path, monkeypatch):
    # `ipykernel install` writes -Xfrozen_modules=off into the kernelspec; the factory, and so its
    # kernels, must run with it too.
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "x", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    with started_factory() as factory:
        assert "-Xfrozen_modules=off" in psutil.Process(factory.process.pid).cmdline()
        with warm_kernel(tmp_path, factory) as kernel:
            assert kernel.is_forked
            assert run(kernel, "import sys; print(sys._xoptions)").strip() == "{'frozen_modules': 'off'}"


def test_ipc_socket_files_are_read_from_the_connection_file(tmp_path):
    connection = tmp_path / "kernel.json"
    ports = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
    connection.write_text(json.dumps({"transport": "ipc", "ip": "/tmp/k", **ports}))
    assert kernel_factory.ipc_socket_files(str(connection)) == [f"/tmp/k-{port}" for port in range(1, 6)]
    connection.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", **ports}))
    assert kernel_factory.ipc_socket_files(str(connection)) == []
    connection.write_text("not json")
    assert kernel_factory.ipc_socket_files(str(connection)) == []
    assert kernel_factory.ipc_socket_files(str(tmp_path / "missing.json")) == []


def test_a_forked_kernel_keeps_what_the_factory_imported_out_of_its_collections(tmp_path):
    # Frozen before the fork: a kernel's full collections skip the imported modules, whose pages stay shared.
    with started_factory() as factory, warm_kernel(tmp_path, factory) as forked:
        assert forked.is_forked
        frozen, collects = run(forked, "import gc\nprint(gc.get_freeze_count(), gc.isenabled())").split()
    assert int(frozen) > 100_000
    assert collects == "True"
