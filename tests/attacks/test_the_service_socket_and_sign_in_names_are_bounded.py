"""Every member of the comms group can open the service's socket. Unbounded, one of them could
hold every connection open, or sign in with wrong passwords and 60 KB user names full of control
characters, each refused `hello` adding to the store and the audit log in the home. Now: at most
MAX_CONNECTIONS batches at once (one more is told the service is busy), a silent connection is
closed after the idle timeout, a refused `hello` changes nothing in the home, and a user name is
checked (length, characters) before anything is written, at every door."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from support.helpers import TEST_PASSWORD, open_store, run_cli_env
from support.review_support import csrf_of
from support.store_fixtures import make_home

from safeguard import service as svc
from safeguard.config import Config

CAP = getattr(svc, "MAX_CONNECTIONS", 16)
BAD_NAMES = ["x" * 60_000, "dsl\x1b]0;owned\x07", "a b", "../../keys"]


@pytest.fixture
def home(tmp_path):
    home = make_home(tmp_path)
    open_store(home)
    return home


@pytest.fixture
def service(home, tmp_path):
    started = []

    def start(**kw):
        sock = tmp_path / f"photos{len(started)}.sock"
        server = svc.serve(svc.PhotoService(home, Config(), jobs=1), sock, **kw)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        started.append(server)
        return sock

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _connect(sock: Path, timeout: float = 5.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock))
    return s


def _hello(sock: Path, user: str, password: str) -> dict:
    s = _connect(sock)
    f = s.makefile("rwb")
    svc.send(f, {"op": "hello", "v": svc.PROTOCOL, "user": user, "password": password})
    answer, _ = svc.receive(f, max_size=0)
    s.close()
    return answer


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def _fill(sock: Path, n: int) -> list[socket.socket]:
    held = []
    for _ in range(n):
        held.append(_connect(sock))
        time.sleep(0.02)
    time.sleep(0.3)  # each is being served, waiting for its hello
    return held


def test_one_connection_past_the_cap_is_told_the_service_is_busy(service):
    sock = service(max_per_peer=CAP)  # (this test has one OS user to connect as)
    held = _fill(sock, CAP)
    extra = _connect(sock)
    answer, _ = svc.receive(extra.makefile("rb"), max_size=0)
    assert answer is not None and not answer["ok"] and "busy" in answer["error"]
    for s in held:
        s.close()


def test_one_os_user_cannot_take_every_place(service):
    sock = service()
    held = _fill(sock, getattr(svc, "MAX_PER_PEER", CAP))
    extra = _connect(sock)
    answer, _ = svc.receive(extra.makefile("rb"), max_size=0)
    assert answer is not None and not answer["ok"] and "wait for one" in answer["error"]
    for s in held:
        s.close()


def test_a_hello_sent_a_byte_now_and_then_is_cut_off(service):
    sock = service(idle_timeout=1.0)
    s = _connect(sock, timeout=10)
    t0 = time.monotonic()
    with pytest.raises(OSError):
        for byte in b'{"op": "hello", "v": 1, "user": "test-comms"':
            s.sendall(bytes([byte]))
            time.sleep(0.3)  # under the idle timeout each time
            if time.monotonic() - t0 > 8:
                break
    assert time.monotonic() - t0 < 5


def test_a_silent_connection_is_closed_after_the_idle_timeout(service):
    sock = service(idle_timeout=0.5)
    s = _connect(sock, timeout=10)
    t0 = time.monotonic()
    assert s.recv(1) == b""  # the server hung up on us
    assert time.monotonic() - t0 < 5


def test_a_refused_hello_changes_nothing_in_the_home(home, service):
    sock = service()
    before = _tree(home.root)
    answers = [_hello(sock, "test-dsl", "wrong password!"),
               _hello(sock, "nobody-here", "wrong password!"),
               *(_hello(sock, name, "wrong password!") for name in BAD_NAMES)]
    assert not any(a["ok"] for a in answers)
    assert _tree(home.root) == before
    assert not any("\x1b" in a["error"] or "xxxxxxxx" in a["error"] for a in answers)


def test_a_bad_user_name_writes_nothing_at_the_command_line_or_the_login_page(home):
    from starlette.testclient import TestClient

    from safeguard.review.app import create_app

    log = home.store_dir / "audit.jsonl"
    before = log.read_bytes()
    for name in BAD_NAMES:
        r = run_cli_env({"SAFEGUARD_USER": name, "SAFEGUARD_PASSWORD": TEST_PASSWORD},
                        "--home", home.root, "audit", "verify")
        assert r.exit_code == 1 and "\x1b" not in r.output
    c = TestClient(create_app(home, Config(), allowed_hosts=["testserver"]),
                   follow_redirects=False)
    for name in BAD_NAMES:
        page = c.get("/login")
        r = c.post("/login", data={"csrf": csrf_of(page.text), "user": name,
                                   "password": TEST_PASSWORD})
        assert r.status_code == 401
    assert log.read_bytes() == before
