"""The notify protocol against real AF_UNIX datagram sockets (the operating system is the only edge)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mail2fax import sdnotify


def _receive(sock: socket.socket) -> bytes:
    return sock.recv(4096)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd, and its NOTIFY_SOCKET value."""
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, str(path)


@pytest.fixture
def abstract_listener() -> Iterator[tuple[socket.socket, str]]:
    name = f"mail2fax-test-{os.getpid()}-{os.urandom(4).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        yield sock, "@" + name


def test_ready_with_status(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    assert sdnotify.ready("listening on 127.0.0.1:2525", environ={"NOTIFY_SOCKET": address})
    assert _receive(sock) == b"READY=1\nSTATUS=listening on 127.0.0.1:2525"


def test_ready_without_status(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    assert sdnotify.ready(environ={"NOTIFY_SOCKET": address})
    assert _receive(sock) == b"READY=1"


def test_stopping(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    assert sdnotify.stopping(environ={"NOTIFY_SOCKET": address})
    assert _receive(sock) == b"STOPPING=1"


def test_status_keeps_to_one_assignment(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    assert sdnotify.status("3 queued\nREADY=1", environ={"NOTIFY_SOCKET": address})
    assert _receive(sock) == b"STATUS=3 queued READY=1"


def test_messages_arrive_in_order(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    environ = {"NOTIFY_SOCKET": address}
    assert sdnotify.ready("up", environ=environ)
    assert sdnotify.status("draining", environ=environ)
    assert sdnotify.stopping(environ=environ)
    assert [_receive(sock) for _ in range(3)] == [b"READY=1\nSTATUS=up", b"STATUS=draining", b"STOPPING=1"]


def test_abstract_socket(abstract_listener: tuple[socket.socket, str]) -> None:
    sock, address = abstract_listener
    assert sdnotify.ready("up", environ={"NOTIFY_SOCKET": address})
    assert _receive(sock) == b"READY=1\nSTATUS=up"
    assert sdnotify.stopping(environ={"NOTIFY_SOCKET": address})
    assert _receive(sock) == b"STOPPING=1"


def test_reads_the_process_environment(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = listener
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert sdnotify.ready("from os.environ")
    assert _receive(sock) == b"READY=1\nSTATUS=from os.environ"
    assert sdnotify.stopping()
    assert _receive(sock) == b"STOPPING=1"


def test_unset_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.stopping() is False
    assert sdnotify.notify("READY=1", environ={}) is False
    assert sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": ""}) is False


def test_unsupported_address_is_false(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="mail2fax.sdnotify"):
        assert sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": "relative/n.sock"}) is False
    assert "unsupported NOTIFY_SOCKET" in caplog.text


def test_missing_socket_is_false_not_an_exception(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    address = str(tmp_path / "gone.sock")
    with caplog.at_level(logging.DEBUG, logger="mail2fax.sdnotify"):
        assert sdnotify.ready("up", environ={"NOTIFY_SOCKET": address}) is False
    assert "could not send" in caplog.text
    assert address in caplog.text


def test_closed_listener_is_false(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
    # The file remains but nobody is listening: the kernel answers ECONNREFUSED.
    assert path.exists()
    assert sdnotify.stopping(environ={"NOTIFY_SOCKET": str(path)}) is False
