"""Ports: every local CDF binds a port of the kernel's choosing and reports it, so two started at once never race.

In a thread the server binds its own socket; as a child process (Dagster's local mode) it is started with
`--port 0 --ready-file F` and writes the URL it serves on to F. No port is picked first and passed on, which
another process (a pytest-xdist worker, a concurrent run) could take in between.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import TypeVar

import pytest

from oid_sync_dagster import cli
from oid_sync_dagster.integration.local_mode import running_local_cdf
from oid_sync_dagster.local_cdf.child import local_cdf_child
from oid_sync_dagster.local_cdf.server import serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

REPORT_TIMEOUT_S = 60.0
T = TypeVar("T")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def healthy(base_url: str) -> bool:
    with _OPENER.open(f"{base_url}/_local/health", timeout=10) as response:
        return response.status == 200


def port_of(base_url: str) -> int:
    parsed = urllib.parse.urlsplit(base_url)
    assert parsed.scheme == "http" and parsed.hostname == "127.0.0.1", base_url
    assert parsed.port is not None and parsed.port > 0, base_url
    return parsed.port


def enter_together(managers: list[AbstractContextManager[T]], stack: ExitStack) -> list[T]:
    """Enter every context manager from a thread of its own at the same moment; what each yields, in order.

    Each is pushed on `stack` once entered, so the test's thread exits them all whatever happens next.
    """
    barrier = threading.Barrier(len(managers))
    entered: dict[int, T] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def enter(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            value = managers[index].__enter__()
        except BaseException as error:
            errors.append(error)
            return
        with lock:
            stack.push(managers[index].__exit__)
            entered[index] = value

    threads = [threading.Thread(target=enter, args=(index,)) for index in range(len(managers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REPORT_TIMEOUT_S + 30)
    if errors:
        raise errors[0]
    assert sorted(entered) == list(range(len(managers))), "a start did not finish"
    return [entered[index] for index in range(len(managers))]


def test_two_in_thread_servers_started_at_once_get_distinct_ports(tmp_path: Path) -> None:
    with ExitStack() as stack:
        servers = [serve_in_thread(LocalCDFSettings(data_dir=tmp_path / name)) for name in ("a", "b")]
        urls = [cdf.base_url for cdf in enter_together(servers, stack)]
        assert port_of(urls[0]) != port_of(urls[1])
        assert all(healthy(url) for url in urls)


def test_two_child_processes_started_at_once_get_distinct_ports(tmp_path: Path) -> None:
    """Dagster's local mode: each run worker starts `oid-sync local-cdf` as a child, possibly at the same time."""
    with ExitStack() as stack:
        urls = enter_together([running_local_cdf(tmp_path / name, "process") for name in ("a", "b")], stack)
        assert port_of(urls[0]) != port_of(urls[1])
        assert all(healthy(url) for url in urls)


def test_the_cli_on_port_0_reports_the_port_it_serves_on(tmp_path: Path) -> None:
    ready_file = tmp_path / "ready"
    command = [sys.executable, "-m", "oid_sync_dagster.cli", "local-cdf", "--port", "0"]
    command += ["--ready-file", str(ready_file), "--data-dir", str(tmp_path / "cdf")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        banner = child.stdout.readline().strip()  # printed once the socket is bound, before serving
        deadline = time.monotonic() + REPORT_TIMEOUT_S
        while not ready_file.exists():
            assert child.poll() is None, f"the local CDF exited with {child.returncode}"
            assert time.monotonic() < deadline, "no report"
            time.sleep(0.02)  # polling for the child's file; there is no event to wait on
        base_url = ready_file.read_text().strip()
        assert ready_file.read_text().endswith("\n")  # written whole (renamed into place)
        assert banner == f"Local CDF on {base_url}"
        assert healthy(base_url)
    finally:
        child.terminate()
        child.wait(timeout=15)


def test_local_cdf_child_reports_a_port_that_answers(tmp_path: Path) -> None:
    argv = ["-m", "oid_sync_dagster.cli", "local-cdf", "--data-dir", str(tmp_path / "cdf")]
    with local_cdf_child(argv, log_path=tmp_path / "log") as child:
        assert healthy(child.base_url)
        with socket.socket() as probe, pytest.raises(OSError):  # it is the child's: nobody else can bind it
            probe.bind(("127.0.0.1", port_of(child.base_url)))
    assert child.process.returncode is not None  # stopped with the block


def test_a_child_that_dies_before_reporting_is_a_clear_error(tmp_path: Path) -> None:
    log_path = tmp_path / "log"
    argv = ["-c", "import sys; print('cannot start: no such thing', file=sys.stderr); sys.exit(5)"]
    started = time.monotonic()
    expected = r"exited with code 5 before it reported its port: cannot start"
    with pytest.raises(RuntimeError, match=expected), local_cdf_child(argv, log_path=log_path):
        pytest.fail("yielded without a report")
    assert time.monotonic() - started < 30  # not the timeout: the exit is noticed


def test_a_child_that_never_reports_times_out_and_is_stopped(tmp_path: Path) -> None:
    marker = f"silent-child-{tmp_path}"  # in its command line, to look for it afterwards
    argv = ["-c", "import time; time.sleep(60)", marker]
    with (
        pytest.raises(RuntimeError, match=r"did not report its port within 1 s"),
        local_cdf_child(argv, log_path=tmp_path / "log", timeout_s=1.0),
    ):
        pytest.fail("yielded without a report")
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if marker.encode() in _read(p)]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # exited while we looked
        return b""


def test_the_cli_keeps_its_default_port_and_says_so_when_a_port_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.build_parser().parse_args(["local-cdf"]).port == cli.DEFAULT_PORT == 8765
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["local-cdf", "--port", str(port), "--data-dir", str(tmp_path / "cdf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"oid-sync local-cdf: cannot listen on 127.0.0.1:{port} (Address already in use)"), err
