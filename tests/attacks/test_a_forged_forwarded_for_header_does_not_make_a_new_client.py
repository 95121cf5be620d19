"""`review serve` ran uvicorn with its defaults, which believe X-Forwarded-For from 127.0.0.1:
anyone on the machine could send every guess at the DSL's password as a new client, so no
client was ever slowed down and fifty guesses locked the DSL out. The real server now knows a
client by the address it connects from (proxy headers only from `review_trusted_proxies`): the
guesser waits, and the DSL signing in from another address does not."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from urllib.parse import urlencode

import pytest
from support.browser import free_port, wait_for
from support.helpers import TEST_PASSWORD, open_store
from support.review_support import csrf_of
from support.store_fixtures import make_home

from consent_db.throttle import FREE

pytestmark = pytest.mark.slow


def _try(port: int, password: str, headers: dict | None = None,
         source: str = "127.0.0.1") -> int:
    """One sign-in from `source` (a loopback address of this machine), as a browser does it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", "/login")
        r = conn.getresponse()
        page = r.read().decode()
        cookie = r.getheader("set-cookie").split(";", 1)[0]
        body = urlencode({"csrf": csrf_of(page), "user": "test-dsl", "password": password})
        conn.request("POST", "/login", body=body, headers={
            "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
            **(headers or {})})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_guesses_with_a_new_forwarded_for_each_are_one_client(tmp_path):
    home = make_home(tmp_path)
    open_store(home)
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeguard.cli", "review", "serve", "--port", str(port)],
            env=dict(os.environ, SAFEGUARD_HOME=str(home.root)), stdout=out,
            stderr=subprocess.STDOUT)
    try:
        wait_for(port, proc, log)
        codes = [_try(port, "wrong password!", {"X-Forwarded-For": f"203.0.113.{i}"})
                 for i in range(1, FREE + 3)]
        assert codes[:FREE] == [401] * FREE and set(codes[FREE:]) == {429}, codes
        assert _try(port, TEST_PASSWORD, source="127.0.0.2") == 303  # the DSL, elsewhere
    finally:
        proc.terminate()
        proc.wait(10)
