"""forked_map: the same results, warnings, output and exceptions as a plain loop, with half the work forked.

Where a test's function records the items it was called with in ``calls``, only this process's calls
are seen: ``calls == [0, 1]`` proves that the child did items 2 and 3 and its answer was used.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from conftest import alive, wait_until_gone

from analysis import parallel
from analysis.report import build_report

ITEMS = [0, 1, 2, 3]
HERE = [0, 1]  # the items this process does itself
AVAILABLE_CPUS = parallel.available_cpus  # the real one: every test but its own sees two CPUs


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


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.01)


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


CPU_CASES = [("", 2, True), ("1", 2, True), ("2", 2, False), ("2", 4, True), ("x", 2, True), ("0", 2, True)]


@pytest.mark.parametrize(("value", "cpus", "expected"), CPU_CASES)
def test_a_child_is_forked_only_with_a_cpu_to_spare_per_report_at_once(monkeypatch, value, cpus, expected):
    monkeypatch.setenv(parallel.REPORTS_AT_ONCE_VARIABLE, value)
    monkeypatch.setattr(parallel, "available_cpus", lambda: cpus)
    assert parallel.can_fork() is expected


def cgroups(tmp_path: Path, memberships: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A /proc/self holding ``memberships`` and a cgroup file system holding ``files`` (path: text)."""
    proc_self, root = tmp_path / "proc-self", tmp_path / "cgroup"
    proc_self.mkdir()
    (proc_self / "cgroup").write_text(memberships, encoding="utf-8")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return proc_self, root


CGROUP_CASES = [
    # cgroup v2: the tightest quota on the way up from the process's own cgroup
    (
        "0::/user.slice/app\n",
        {"cpu.max": "max 100000", "user.slice/cpu.max": "150000 100000", "user.slice/app/cpu.max": "max 100000"},
        1.5,
    ),
    ("0::/\n", {"cpu.max": "200000 100000"}, 2.0),  # a container sees its own cgroup as the root
    ("0::/\n", {"cpu.max": "max 100000"}, None),
    # cgroup v1, beside other controllers; a cgroup folder that the container does not show
    (
        "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n",
        {"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
        0.5,
    ),
    ("3:cpuacct,cpu:/x\n", {"cpu/x/cpu.cfs_quota_us": "300000", "cpu/x/cpu.cfs_period_us": "100000"}, 3.0),  # mounted as cpu/
    ("4:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
    # nothing to read, or nothing sensible: no quota
    ("0::/\n", {}, None),
    ("0::/\n", {"cpu.max": "garbage"}, None),
    ("0::/\n", {"cpu.max": "100000 0"}, None),
    ("not a cgroup line\n", {"cpu.max": "100000 100000"}, None),
    # a hybrid layout: v1's cpu controller, and v2's hierarchy with no cpu.max of its own
    ("1:cpu:/\n0::/\n", {"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000", "unified/cgroup.procs": ""}, 1.5),
]


@pytest.mark.parametrize(("memberships", "files", "expected"), CGROUP_CASES)
def test_the_cgroup_cpu_quota_is_the_tightest_on_the_way_to_the_root(tmp_path, memberships, files, expected):
    assert parallel.cgroup_cpu_quota(*cgroups(tmp_path, memberships, files)) == expected


def test_no_cgroup_file_means_no_quota(tmp_path):
    assert parallel.cgroup_cpu_quota(tmp_path / "absent", tmp_path) is None


def test_a_cgroup_named_in_bytes_that_are_not_utf_8_is_read_all_the_same(tmp_path):
    proc_self, root = cgroups(tmp_path, "", {"cpu.max": "50000 100000"})
    (proc_self / "cgroup").write_bytes(b"0::/caf\xe9\n")
    assert parallel.cgroup_cpu_quota(proc_self, root) == 0.5  # the root's quota; the folder itself is not there


@pytest.mark.parametrize(("quota", "expected"), [(None, 8), (1.5, 1), (1.2, 1), (2.7, 2), (0.5, 1), (1.0, 1), (16.0, 8)])
def test_a_cpu_quota_caps_the_cpus_a_process_may_use(monkeypatch, quota, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(parallel, "cgroup_cpu_quota", lambda: quota)
    assert AVAILABLE_CPUS() == expected


def test_a_container_limited_to_one_cpu_forks_no_child(monkeypatch):
    # Two processes there would share one CPU's time: the second half would only come later.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(parallel, "cgroup_cpu_quota", lambda: 1.0)
    monkeypatch.setattr(parallel, "available_cpus", AVAILABLE_CPUS)
    assert not parallel.can_fork()
    assert parallel.forked_map(doubled_with_pid, ITEMS) == [(item * 2, os.getpid()) for item in ITEMS]


def test_jobs_workers_tell_their_kernels_how_many_reports_render_at_once():
    # Through the factory's environment, which its kernels share; the worker's own is left as it was.
    script = """
import os
from analysis import parallel
from analysis.workers import Worker
Worker.start(os.getppid(), 3, os.open(os.devnull, os.O_RDONLY))
with open(f"/proc/{Worker.factory.process.pid}/environ", "rb") as environ:
    print(parallel.reports_at_once(), environ.read().split(b"\\0").count(b"ANALYSIS_REPORTS_AT_ONCE=3"))
Worker.factory.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.stdout, done.returncode) == ("1 1\n", 0), done.stderr


def test_a_render_of_one_report_at_a_time_adds_nothing_to_its_kernels_environment():
    assert parallel.kernel_environment(1) == {}
    assert parallel.kernel_environment(2) == {"ANALYSIS_REPORTS_AT_ONCE": "2"}


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
    """In a forked child: write its pid, then wait without working, then say so; in ``parent``, return at once."""
    if os.getpid() != parent:
        pid_file.write_text(str(os.getpid()))
        time.sleep(20)
        pid_file.with_suffix(".waited").touch()


def test_a_child_that_stops_working_is_stopped_and_its_half_done_here(tmp_path):
    parent, pid_file = os.getpid(), tmp_path / "child.pid"

    def stuck_in_the_child(item: int) -> int:
        stall_in_a_child(parent, pid_file)
        return item

    assert parallel.forked_map(stuck_in_the_child, ITEMS, stall_seconds=0.5) == ITEMS
    assert_gone(pid_file)
    assert not pid_file.with_suffix(".waited").exists()  # stopped while it stalled, not waited for


def test_a_child_that_works_longer_than_the_stall_time_is_waited_for():
    parent = os.getpid()

    def slow_in_the_child(item: int) -> tuple[int, int]:
        if os.getpid() != parent:  # busy, not stuck: its CPU time grows, to three times the stall time
            until = time.process_time() + 1.5
            while time.process_time() < until:
                pass
        return doubled_with_pid(item)

    results = parallel.forked_map(slow_in_the_child, ITEMS, stall_seconds=0.5)
    assert [pid for _, pid in results][2:] != [parent, parent]


def test_a_child_stuck_on_a_lock_another_thread_held_is_given_up(tmp_path):
    # What forking a process with threads risks: the lock is never released in the child.
    lock, taken, release = threading.Lock(), threading.Event(), threading.Event()

    def hold():
        with lock:
            taken.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait()
    parent = os.getpid()

    def locking(item: int) -> int:
        if os.getpid() != parent:
            lock.acquire()
        return item

    try:
        assert parallel.forked_map(locking, ITEMS, stall_seconds=0.5) == ITEMS  # the child never could return
    finally:
        release.set()
        holder.join()


def test_an_interrupt_here_stops_the_child(tmp_path):
    parent, pid_file = os.getpid(), tmp_path / "child.pid"

    def interrupted(item: int) -> int:
        stall_in_a_child(parent, pid_file)
        wait_for(pid_file)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        parallel.forked_map(interrupted, ITEMS)
    assert_gone(pid_file)


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
        wait_for(pid_file)
        child = int(pid_file.read_text())
        assert alive(child)
    finally:
        process.kill()
        process.wait()
    assert wait_until_gone([child]) == [], "the child outlived its parent"


def test_the_answer_is_read_on_descriptors_above_1023():
    # select() cannot watch them; a long-running kernel can have that many files open.
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert parallel.forked_map(doubled_with_pid, ITEMS)[3][1] != os.getpid()
    finally:
        for descriptor in spare:
            os.close(descriptor)


# --- warnings and output, as a plain loop gives them ---------------------------------------------


def warning_twice(item: int, calls: list | None = None) -> int:
    if calls is not None:
        calls.append(item)
    warnings.warn(f"item {item}", UserWarning, stacklevel=1)
    warnings.warn("every item", UserWarning, stacklevel=1)
    return item


def shown(action: str, run) -> list[str]:
    warnings.onceregistry.clear()  # the one registry that catch_warnings leaves as it is
    with warnings.catch_warnings(record=True) as caught:  # module registries start afresh
        warnings.simplefilter(action)
        run()
    return [f"{warning.category.__name__}: {warning.message}" for warning in caught]


@pytest.mark.parametrize("action", ["default", "always", "once", "module"])
def test_warnings_come_out_as_a_plain_loop_shows_them(action):
    calls = []
    plain = shown(action, lambda: [warning_twice(item) for item in ITEMS])
    forked = shown(action, lambda: parallel.forked_map(lambda item: warning_twice(item, calls), ITEMS))
    assert forked == plain
    assert "UserWarning: item 3" in forked and calls == HERE


def test_a_warning_already_shown_is_not_shown_again():
    calls = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warning_twice(9)  # "every item" is shown here, before
        parallel.forked_map(lambda item: warning_twice(item, calls), ITEMS)
    assert [str(warning.message) for warning in caught].count("every item") == 1 and calls == HERE


def test_warnings_from_code_outside_any_module_file_are_not_lost():
    # Notebook cells and `python -c` code run in the main module, with a file name of their own.
    main = sys.modules["__main__"].__dict__
    source = "def _forked_cell(item):\n    import warnings\n    warnings.warn(f'cell {item}')\n    return item\n"
    exec(compile(source, "<cell>", "exec"), main)
    try:
        plain = shown("default", lambda: [main["_forked_cell"](item) for item in ITEMS])
        forked = shown("default", lambda: parallel.forked_map(main["_forked_cell"], ITEMS))
    finally:
        del main["_forked_cell"]
    assert forked == plain == [f"UserWarning: cell {item}" for item in ITEMS]


def warning_from_the_caller(item: int) -> int:
    warnings.warn("for the caller", UserWarning, stacklevel=2)
    return item


def test_a_warning_for_the_caller_is_shown_once_for_both_halves():
    assert shown("default", lambda: parallel.forked_map(warning_from_the_caller, ITEMS)) == ["UserWarning: for the caller"]


class ReasonedWarning(UserWarning):
    """A warning class whose constructor needs more than its text, so that it cannot be rebuilt from it."""

    def __init__(self, text: str, reason: str):
        super().__init__(text)
        self.reason = reason


def warning_with_a_reason(item: int) -> int:
    warnings.warn(ReasonedWarning(f"item {item}", "why"), stacklevel=1)
    return item


def test_a_warning_that_cannot_be_sent_whole_is_still_shown():
    with pytest.raises(TypeError):  # what a pickled ReasonedWarning does when it is loaded
        pickle.loads(pickle.dumps(ReasonedWarning("text", "why")))
    forked = shown("always", lambda: parallel.forked_map(warning_with_a_reason, ITEMS))
    assert forked[:2] == ["ReasonedWarning: item 0", "ReasonedWarning: item 1"]
    assert forked[2:] == ["UserWarning: ReasonedWarning: item 2", "UserWarning: ReasonedWarning: item 3"]


def test_warnings_turned_into_errors_are_raised_here():
    def warning_in_the_second_half(item: int) -> int:
        if item == 3:
            warnings.warn("item 3", UserWarning, stacklevel=1)
        return item

    with warnings.catch_warnings(), pytest.raises(UserWarning, match="item 3"):
        warnings.simplefilter("error")
        parallel.forked_map(warning_in_the_second_half, ITEMS)


def test_printed_output_and_warnings_come_out_here_in_order(capsys):
    def chatty(item: int, calls: list | None = None) -> int:
        if calls is not None:
            calls.append(item)
        print(f"out {item}")
        print(f"err {item}", file=sys.stderr)
        warnings.warn(f"warning {item}", UserWarning, stacklevel=1)
        print(f"after {item}", file=sys.stderr)
        return item

    def to_stderr(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(f"{category.__name__}: {message}\n")

    def output(run) -> tuple[str, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = to_stderr
            run()
        return capsys.readouterr()

    calls = []
    plain = output(lambda: [chatty(item) for item in ITEMS])
    forked = output(lambda: parallel.forked_map(lambda item: chatty(item, calls), ITEMS))
    assert forked == plain and calls == HERE
    assert "err 3\nUserWarning: warning 3\nafter 3\n" in forked.err


def test_forking_with_threads_warns_nothing_and_keeps_the_warnings_shown(monkeypatch):
    # Python 3.12 and later warn as they fork a process with threads; here a fork that warns so stands in.
    fork = os.fork

    def warning_fork():
        warnings.warn("This process (pid=1) is multi-threaded, use of fork() may deadlock", DeprecationWarning, stacklevel=1)
        return fork()

    monkeypatch.setattr(parallel.os, "fork", warning_fork)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        warnings.simplefilter("default", UserWarning)
        warning_twice(9)
        for _ in range(3):
            parallel.forked_map(doubled_with_pid, ITEMS)
        warning_twice(9)
    assert [str(warning.message) for warning in caught] == ["item 9", "every item"]


def test_garbage_left_before_the_fork_is_finalized_here_only(tmp_path):
    log = tmp_path / "finalized"

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            with log.open("a") as file:
                file.write(f"{os.getpid()}\n")

    gc.disable()
    try:
        Cycle()  # unreachable at once, and left to the collector
        parallel.forked_map(lambda item: gc.collect(), ITEMS)
        gc.collect()
    finally:
        gc.enable()
    assert log.read_text().split() == [str(os.getpid())]


def test_report_charts_are_the_same_page_drawn_in_one_or_two_processes(monkeypatch):
    report = build_report()
    calls = []
    draw = report._chart_html
    monkeypatch.setattr(report, "_chart_html", lambda name: calls.append(name) or draw(name))
    shared = report.charts().html
    assert calls == ["timeline", "human_cost"]  # the child drew the other two, and its answer was used
    assert shared == report.charts(share=False).html
    assert shared.count("<img ") == 4
