"""The HumanEval sandbox, against generated programs that misbehave.

Each test checks the program's fate and that nothing of it remains: no process, no working directory.
"""

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import psutil

from quantgate.benchmarks.sandbox import Limits, run_program

FAST = Limits(timeout_s=3.0, memory_mb=512)


def leftovers(marker):
    """Processes still running whose command line names this test's program."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline or "quantgate-sandbox-" in cmdline:
            found.append(proc.pid)
    return found


def test_a_correct_program_passes():
    result = run_program("def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n", FAST)
    assert result.passed


def test_a_failing_assertion_fails_with_its_traceback():
    result = run_program("assert 1 + 1 == 3, 'arithmetic'\n", FAST)
    assert result.status == "failed" and "AssertionError: arithmetic" in result.detail


def test_an_endless_loop_is_killed_at_the_time_limit():
    result = run_program("while True:\n    pass\n", FAST)
    assert result.status == "timeout"
    assert result.seconds < FAST.timeout_s + 10  # the limit counts from the program's start, after its root is built
    assert leftovers("program.py") == []


def test_a_fork_bomb_is_contained_and_leaves_nothing():
    source = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_program(source, FAST)
    assert result.status in ("timeout", "failed")
    assert leftovers("program.py") == []


def test_a_daemon_does_not_outlive_the_program():
    source = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\n"
    )
    result = run_program(source, FAST)
    assert result.passed
    assert leftovers("program.py") == []


def test_unbounded_allocation_fails_inside_its_memory_limit():
    roomy = Limits(timeout_s=15.0, memory_mb=512)  # reaching the limit takes seconds on a busy machine
    result = run_program("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n", roomy)
    assert result.status == "failed" and "MemoryError" in result.detail


def test_files_outside_its_directory_cannot_be_deleted_or_written(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    os.chmod(tmp_path, 0o755)
    report = "except OSError as e:\n    print(e, file=__import__('sys').stderr)\n"
    source = (
        "import os, shutil\n"
        f"try:\n    os.remove({str(precious)!r})\n{report}"
        f"try:\n    shutil.rmtree({str(tmp_path)!r})\n{report}"
        f"open({str(tmp_path / 'new.txt')!r}, 'w')\n"
    )
    result = run_program(source, FAST)
    assert result.status == "failed" and ("PermissionError" in result.detail or "FileNotFoundError" in result.detail)
    assert precious.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_there_is_no_network():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []
    server.settimeout(5)
    thread = threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True)
    thread.start()
    result = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n", FAST)
    thread.join()
    server.close()
    assert result.status == "failed" and ("OSError" in result.detail or "Error" in result.detail)
    assert accepted == [None]


def _accept(server):
    try:
        server.accept()
        return "connected"
    except OSError:
        return None


def test_the_working_directory_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its host-side folder goes here, not in a shared /tmp
    result = run_program("import os, sys\nsys.exit(os.getcwd())\n", FAST)
    assert result.detail.strip().splitlines()[-1] == "/tmp/work"  # inside its own root
    assert list(tmp_path.iterdir()) == []


def test_a_nonzero_exit_is_a_failure():
    assert run_program("import sys\nsys.exit(3)\n", FAST).status == "failed"


def test_a_program_that_leaves_its_session_and_closes_its_output_dies_at_the_limit(tmp_path):
    source = (
        "import os, time\n"
        "os.setsid() if os.getpid() != os.getsid(0) else None\n"
        "os.close(1); os.close(2)\n"
        "while True:\n"
        "    time.sleep(0.1)\n"
    )
    result = run_program(source, FAST)
    assert result.status == "timeout"
    time.sleep(0.5)
    assert leftovers("program.py") == []


def test_a_daemon_holding_standard_error_open_does_not_hold_the_caller():
    source = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    while True:\n"
        "        time.sleep(0.1)\n"
        "while True:\n"
        "    time.sleep(0.1)\n"
    )
    start = time.perf_counter()
    result = run_program(source, FAST)
    assert result.status == "timeout" and time.perf_counter() - start < FAST.timeout_s + 3
    assert leftovers("program.py") == []


def test_standard_error_is_captured_within_a_bound():
    import psutil

    before = psutil.Process().memory_info().rss
    result = run_program("import sys\nchunk = 'x' * 2**20\nwhile True:\n    sys.stderr.write(chunk)\n", FAST)
    assert result.status == "failed"  # stopped by the file-size limit on its standard error
    assert len(result.detail) <= 2000
    assert psutil.Process().memory_info().rss - before < 64 * 2**20


def test_temporary_directories_are_private_and_vanish():
    marker = f"quantgate-test-{os.getpid()}-{time.time_ns()}"
    source = "".join(f"open('{d}/{marker}', 'w').write('x' * 1000)\n" for d in ("/tmp", "/var/tmp", "/dev/shm"))
    assert run_program(source, FAST).passed
    assert [d for d in ("/tmp", "/var/tmp", "/dev/shm") if (Path(d) / marker).exists()] == []


def test_proc_and_host_files_are_its_own():
    source = (
        "import os, sys\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "print(len(pids), os.path.exists('/etc/passwd'), os.path.exists('/root'), file=sys.stderr)\n"
    )
    result = run_program(source, FAST)
    count, passwd, root = result.detail.split()
    assert int(count) <= 3  # timeout, the program and its listing of itself
    assert (passwd, root) == ("False", "False")
