"""Anyone who could type the DSL's user name kept the DSL out for 15 minutes: five wrong
passwords through the photo service's socket, or fifty tries at the login page each from what
looked like a new client. Wrong passwords now slow down only the source they come from (the OS
user behind the socket or the command, the web client's own address); the DSL's right password
from anywhere else is taken at once, and an admin can clear a wait (`staff unlock`, audited)."""

from __future__ import annotations

import socket
import threading

import pytest
from support.helpers import TEST_PASSWORD, open_store, run_cli_env
from support.review_support import csrf_of
from support.store_fixtures import make_home

from safeguard.config import Config
from safeguard.service import PROTOCOL, PhotoService, receive, send, serve

DSL = "test-dsl"


@pytest.fixture
def home(tmp_path):
    home = make_home(tmp_path)
    open_store(home)
    return home


@pytest.fixture
def service(home, tmp_path):
    sock = tmp_path / "photos.sock"
    server = serve(PhotoService(home, Config(), jobs=1), sock)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield sock
    server.shutdown()
    server.server_close()


def hello(sock_path, user, password):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(sock_path))
    f = s.makefile("rwb")
    send(f, {"op": "hello", "v": PROTOCOL, "user": user, "password": password})
    answer, _ = receive(f, max_size=0)
    s.close()
    return answer


def test_wrong_passwords_through_the_service_do_not_lock_the_dsl_out(home, service):
    answers = [hello(service, DSL, "wrong password!") for _ in range(8)]
    assert not any(a["ok"] for a in answers)
    assert "try again in" in answers[-1]["error"]  # the guessing OS user waits
    store = open_store(home)
    assert store.verify_staff(DSL, TEST_PASSWORD, source="uid:5000").is_dsl


def test_fifty_web_tries_from_ever_new_clients_do_not_lock_the_dsl_out(home):
    from starlette.testclient import TestClient

    from safeguard.review.app import create_app

    app = create_app(home, Config(), allowed_hosts=["testserver"])
    for i in range(50):
        c = TestClient(app, follow_redirects=False, client=(f"198.51.100.{i + 1}", 40000))
        page = c.get("/login")
        r = c.post("/login", data={"csrf": csrf_of(page.text), "user": DSL,
                                   "password": "wrong password!"})
        assert r.status_code == 401
    dsl = TestClient(app, follow_redirects=False, client=("192.0.2.10", 40001))
    page = dsl.get("/login")
    r = dsl.post("/login", data={"csrf": csrf_of(page.text), "user": DSL,
                                 "password": TEST_PASSWORD})
    assert r.status_code == 303, r.text


def test_command_line_failures_slow_this_os_user_and_an_admin_can_clear_them(home):
    admin = {"SAFEGUARD_USER": "test-admin", "SAFEGUARD_PASSWORD": TEST_PASSWORD}
    r = run_cli_env(admin, "--home", home.root, "staff", "unlock", DSL)
    assert r.exit_code == 0 and f"Unlocked {DSL}" in r.output, r.output
    env = {"SAFEGUARD_USER": DSL, "SAFEGUARD_PASSWORD": "wrong password!"}
    codes = [run_cli_env(env, "--home", home.root, "audit", "verify").exit_code
             for _ in range(6)]
    assert codes == [1] * 6
    r = run_cli_env({"SAFEGUARD_USER": DSL, "SAFEGUARD_PASSWORD": TEST_PASSWORD},
                    "--home", home.root, "audit", "verify")
    assert r.exit_code == 1 and "try again in" in r.output  # this OS user waits ...
    store = open_store(home)
    assert store.verify_staff(DSL, TEST_PASSWORD, source="uid:5000") is not None  # ... no one else
    assert store.unlock_staff(DSL, actor="test-admin") == 1  # an admin elsewhere clears the wait
    r = run_cli_env({"SAFEGUARD_USER": DSL, "SAFEGUARD_PASSWORD": TEST_PASSWORD},
                    "--home", home.root, "audit", "verify")
    assert r.exit_code == 0, r.output
    actions = [e["action"] for e in open_store(home).audit.entries(pupil=DSL)]
    assert "staff.throttled" in actions and actions.count("staff.unlock") == 2


def test_guesses_sent_all_at_once_from_one_source_are_each_counted(home, monkeypatch):
    """A throttle that looks at the count before the password check and adds to it after lets a
    burst of tries sent at once through on a count none of them has added to yet."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from consent_db import staff
    from consent_db.throttle import FREE, Throttle

    real = staff._ph

    class Slow:
        """The account's hasher, taking as long as a real argon2 check (0.3 s)."""

        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, hash_, password):
            time.sleep(0.3)
            return real.verify(hash_, password)

    monkeypatch.setattr(staff, "_ph", Slow())
    store, throttle = open_store(home), Throttle()

    def guess(_):
        try:
            return store.verify_staff(DSL, "wrong password!", source="web:203.0.113.9",
                                      throttle=throttle)
        except Exception as e:  # noqa: BLE001 - told to wait
            return type(e).__name__

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(guess, range(8)))
    assert outcomes.count(None) == FREE, outcomes
    assert outcomes.count("Throttled") == 8 - FREE
