"""forked_map: the same results, warnings, output and exceptions as a plain loop, with half the work forked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from analysis import parallel
from analysis.report import build_report

ITEMS = [0, 1, 2, 3]


@pytest.fixture(autouse=True)
def two_cpus(monkeypatch):
    """As on the machines we render on; forking works the same on one CPU, where it is not used."""
    monkeypatch.setattr(parallel, "available_cpus", lambda: 2)


def doubled_with_pid(item: int) -> tuple[int, int]:
    return item * 2, os.getpid()


def assert_gone(pid_file: Path) -> None:
    """The child that wrote ``pid_file`` has ended and been reaped (no zombie left in /proc)."""
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    assert not Path(f"/proc/{pid}").exists()


def is_running(pid: int) -> bool:
    """The process exists and has not ended (a zombie waiting for its reaper has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_second_half_is_done_by_one_child_and_the_order_kept():
    results = parallel.forked_map(doubled_with_pid, ITEMS)
    assert [value for value, _ in results] == [0, 2, 4, 6]
    pids = [pid for _, pid in results]
    assert pids[:2] == [os.getpid()] * 2
    assert pids[2] == pids[3] != os.getpid()


def test_everything_is_done_here_with_one_cpu_or_one_item(monkeypatch):
    assert parallel.forked_map(doubled_with_pid, [5]) == [(10, os.getpid())]
    monkeypatch.setattr(parallel, "available_cpus", lambda: 1)
    assert parallel.forked_map(doubled_with_pid, ITEMS) == [(item * 2, os.getpid()) for item in ITEMS]


@pytest.mark.parametrize(
    ("value", "cpus", "expected"),
    [("", 2, True), ("1", 2, True), ("2", 2, False), ("2", 4, True), ("x", 2, True), ("0", 2, True)],
)
def test_a_child_is_forked_only_with_a_cpu_to_spare_per_report_at_once(monkeypatch, value, cpus, expected):
    monkeypatch.setenv(parallel.REPORTS_AT_ONCE_VARIABLE, value)
    monkeypatch.setattr(parallel, "available_cpus", lambda: cpus)
    assert parallel.can_fork() is expected


def test_jobs_workers_tell_their_kernels_how_many_reports_render_at_once():
    script = """
import os
from analysis import parallel
from analysis.workers import Worker
Worker.start(os.getppid(), 2)
with open(f"/proc/{Worker.factory.process.pid}/environ", "rb") as environ:
    print(parallel.reports_at_once(), environ.read().split(b"\\0").count(b"ANALYSIS_REPORTS_AT_ONCE=2"))
Worker.factory.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.stdout, done.returncode) == ("2 1\n", 0), done.stderr


def failing_on_three(item: int) -> int:
    if item == 3:
        raise ValueError(f"bad item {item}")
    return item


def test_an_exception_in_the_childs_half_is_raised_here():
    with pytest.raises(ValueError, match="bad item 3") as raised:
        parallel.forked_map(failing_on_three, ITEMS)
    assert raised.traceback[-1].name == "failing_on_three"  # raised here, by the function, not re-created


def test_a_killed_child_has_its_half_done_here():
    parent = os.getpid()

    def killed_in_the_child(item: int) -> tuple[int, int]:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return doubled_with_pid(item)

    assert parallel.forked_map(killed_in_the_child, ITEMS) == [(item * 2, parent) for item in ITEMS]


def stall_in_a_child(parent: int, pid_file: Path) -> None:
    """In a forked child: write its pid, then hang; in ``parent``, return at once."""
    if os.getpid() != parent:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)


def test_a_child_that_does_not_answer_is_stopped_and_its_half_done_here(tmp_path):
    parent, pid_file = os.getpid(), tmp_path / "child.pid"

    def stuck_in_the_child(item: int) -> int:
        stall_in_a_child(parent, pid_file)
        return item

    started = time.monotonic()
    assert parallel.forked_map(stuck_in_the_child, ITEMS, grace_seconds=0.5) == ITEMS
    assert time.monotonic() - started < 30
    assert_gone(pid_file)


def test_an_interrupt_here_stops_the_child(tmp_path):
    parent, pid_file = os.getpid(), tmp_path / "child.pid"

    def interrupted(item: int) -> int:
        stall_in_a_child(parent, pid_file)
        while not pid_file.exists():
            time.sleep(0.01)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        parallel.forked_map(interrupted, ITEMS)
    assert_gone(pid_file)


def warning_twice(item: int) -> int:
    warnings.warn(f"item {item}", UserWarning, stacklevel=1)
    warnings.warn("every item", UserWarning, stacklevel=1)
    return item


def shown(action: str, run) -> list[str]:
    warnings.onceregistry.clear()  # the one registry that catch_warnings leaves as it is
    with warnings.catch_warnings(record=True) as caught:  # module registries start afresh
        warnings.simplefilter(action)
        run()
    return [str(warning.message) for warning in caught]


@pytest.mark.parametrize("action", ["default", "always", "once", "module"])
def test_warnings_come_out_as_a_plain_loop_shows_them(action):
    plain = shown(action, lambda: [warning_twice(item) for item in ITEMS])
    forked = shown(action, lambda: parallel.forked_map(warning_twice, ITEMS))
    assert forked == plain
    assert "item 3" in forked


def test_warnings_turned_into_errors_are_raised_here():
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="item 0"):
        warnings.simplefilter("error")
        parallel.forked_map(warning_twice, ITEMS)


def printing(item: int) -> int:
    print(f"item {item}")
    return item


def test_printed_output_comes_out_here_in_order(capsys):
    assert parallel.forked_map(printing, ITEMS) == ITEMS
    assert capsys.readouterr().out == "item 0\nitem 1\nitem 2\nitem 3\n"


def test_report_charts_are_the_same_page_drawn_in_one_or_two_processes(monkeypatch):
    forks = []
    fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or fork())
    report = build_report()
    shared = report.charts().html
    assert forks == [1]
    assert shared == report.charts(share=False).html
    assert forks == [1]
    assert shared.count("<img ") == 4


def test_the_child_dies_with_its_parent(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = f"""
import os, sys, time
from analysis import parallel
parallel.available_cpus = lambda: 2
parent = os.getpid()
def work(item):
    if os.getpid() != parent:
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
    time.sleep(60)
parallel.forked_map(work, [0, 1])
"""
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert is_running(child)
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 5
    while is_running(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.05)
