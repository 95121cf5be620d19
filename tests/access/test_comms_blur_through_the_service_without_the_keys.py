"""Comms staff never hold the keys: the home (store, key, held originals, audit log)
belongs to the service account; comms staff run `blur --service SOCKET`, which sends their photos
to `safeguard serve` and writes the publishable copies it sends back.

The first tests run the service in this process. The last one is the deployment itself, with two
real OS users made by `useradd`: the service account owns the home and runs `safeguard serve`;
the comms user gets redacted copies through the socket and cannot read the store, the key, the
held originals or the audit log, nor run the blur pass against the home directly. It needs root
(CI runs as root) and skips with the reason elsewhere."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from conftest import build_demo_home
from support.helpers import TEST_PASSWORD, json_lines, open_store, run_cli_env

from safeguard.config import Config
from safeguard.service import PhotoService, serve

pytestmark = [pytest.mark.model, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def service(demo_home, tmp_path):
    sock = tmp_path / "photos.sock"
    server = serve(PhotoService(demo_home, Config(), jobs=1), sock)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    yield sock
    server.shutdown()
    server.server_close()


def _comms(*args):
    # the comms user's environment: no home at all
    env = {"SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": TEST_PASSWORD,
           "SAFEGUARD_HOME": "/nonexistent/safeguard-home"}
    return run_cli_env(env, *[str(a) for a in args])


def test_blur_through_the_service_gives_what_blur_gives(demo_home, service, photos, tmp_path):
    local = run_cli_env({}, "--home", demo_home.root, "scan", photos, "--json", "--jobs", "1")
    r = _comms("blur", photos, "--out", tmp_path / "out", "--service", service, "--json")
    assert r.exit_code in (0, 3), r.output
    remote = json_lines(r.stdout)
    want = {Path(o["input"]).name: sorted((f["label"], f["action"]) for f in o["faces"])
            for o in json_lines(local.stdout)}
    got = {Path(o["input"]).name: sorted((f["label"], f["action"]) for f in o["faces"])
           for o in remote}
    assert got == want
    # Ada is restricted on social: her face is redacted in the copy the comms user received
    assembly = next(o for o in remote if o["input"].endswith("assembly.jpg"))
    assert ("restricted", "redact") in [(f["label"], f["action"]) for f in assembly["faces"]]
    assert Path(assembly["output"]).parent == tmp_path / "out"
    assert Path(assembly["output"]).read_bytes()[:2] == b"\xff\xd8"
    exported = [o for o in remote if o["status"] == "exported"]
    assert exported and all(Path(o["output"]).is_file() for o in exported)
    # nothing names a pupil or a reason
    assert "Ada" not in r.stdout and "P001" not in r.stdout and "consent" not in r.stdout


def test_the_service_refuses_a_wrong_password_and_bad_options(service, photos, tmp_path):
    r = run_cli_env({"SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": "wrong"},
                    "blur", photos, "--out", tmp_path / "out", "--service", service)
    assert r.exit_code == 1 and "sign-in as test-comms failed" in r.output
    assert not (tmp_path / "out").exists()
    r = _comms("blur", photos, "--out", tmp_path / "out", "--service", service,
               "--channel", "tiktok")
    assert r.exit_code == 2 and "unknown channel" in r.output
    r = _comms("scan", photos, "--service", tmp_path / "no.sock")
    assert r.exit_code == 1 and "no safeguard service" in r.output


def test_the_socket_is_never_open_to_everyone(service):
    assert stat.S_IMODE(os.stat(service).st_mode) == 0o660


# ---------------------------------------------------------------------------------------------
# Two real OS users


def _python_for_others() -> list[str] | None:
    """A command that runs this venv's safeguard as another OS user: the venv's interpreter if
    every folder above it is open to others, else the system's Python of the same version with
    the venv's site-packages added."""
    exe = Path(sys.executable).resolve()
    if all(os.stat(p).st_mode & 0o001 for p in exe.parents):
        return [str(exe), "-m", "safeguard.cli"]
    system = Path(f"/usr/bin/python3.{sys.version_info.minor}")
    if not system.exists():
        return None
    site = REPO / ".venv" / "lib" / f"python3.{sys.version_info.minor}" / "site-packages"
    boot = (f"import site, sys; site.addsitedir({str(site)!r}); sys.path.insert(0, {str(REPO)!r}); "
            "sys.argv[0] = 'safeguard'; from safeguard.cli import main; main()")
    return [str(system), "-c", boot]


def _let_others_through(path: Path) -> list[tuple[Path, int]]:
    """Give others search (x, never read) permission on the folders above `path` that lack it and
    belong to us (a checkout in a 0700 mktemp folder, say), so the test's OS users can reach the
    code; returns what to put back."""
    changed = []
    for d in reversed(path.parents):
        st = os.stat(d)
        if not st.st_mode & 0o001 and st.st_uid == os.geteuid():
            changed.append((d, st.st_mode & 0o7777))
            os.chmod(d, (st.st_mode & 0o7777) | 0o001)
    return changed


def _can_make_users() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create OS users (CI runs as root)"
    if not shutil.which("useradd"):
        return "no useradd on this machine"
    if _python_for_others() is None:
        return "no Python other users can run"
    return None


def _user(name: str) -> pwd.struct_passwd:
    subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", name],
                   check=True, capture_output=True)
    return pwd.getpwnam(name)


def _drop_to(user: pwd.struct_passwd, home_env: str | None = None) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    if home_env:
        env["SAFEGUARD_HOME"] = home_env
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": env}


@pytest.mark.skipif(_can_make_users() is not None, reason=str(_can_make_users()))
def test_two_os_users_comms_blur_and_watch_without_reading_the_home(
        reference_encodings, photos):
    tag = os.urandom(3).hex()
    svc, comms = _user(f"sgsvc{tag}"), _user(f"sgcom{tag}")
    base = Path(tempfile.mkdtemp(prefix="safeguard-os-users-", dir="/tmp"))
    proc = None
    opened = _let_others_through(REPO / "safeguard")
    try:
        os.chmod(base, 0o755)
        # the service account's home: built, then handed over (init and staff add, as an admin
        # would run them, are covered elsewhere; this test is about who can read what)
        home = build_demo_home(base / "home", reference_encodings)
        open_store(home).add_register("P002", "cp", actor="test")  # Ben: his photo is held
        subprocess.run(["chown", "-R", f"{svc.pw_uid}:{svc.pw_gid}", str(home.root)], check=True)
        # the socket's folder: the service's, the comms group may enter (systemd's
        # RuntimeDirectory with Group=comms does the same)
        run = base / "run"
        run.mkdir()
        os.chown(run, svc.pw_uid, comms.pw_gid)
        os.chmod(run, 0o2750)
        sock = run / "photos.sock"
        # the comms user's own photos and output folder
        mine = base / "comms"
        shutil.copytree(photos, mine / "photos")
        subprocess.run(["chown", "-R", f"{comms.pw_uid}:{comms.pw_gid}", str(mine)], check=True)
        os.chmod(mine, 0o700)

        py = _python_for_others()
        svc_env = _drop_to(svc, str(home.root))
        # the service account may use the comms group for the socket's group
        svc_env["extra_groups"] = [comms.pw_gid]
        proc = subprocess.Popen([*py, "--home", str(home.root), "serve", "--socket", str(sock),
                                 "--jobs", "1"], cwd="/", stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **svc_env)
        for _ in range(600):
            if sock.exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert sock.exists(), proc.communicate(timeout=5)

        comms_env = _drop_to(comms)
        comms_env["env"].update({"SAFEGUARD_USER": "test-comms",
                                 "SAFEGUARD_PASSWORD": TEST_PASSWORD})

        def as_comms(*args):
            return subprocess.run([*py, *args], cwd=str(mine), capture_output=True, text=True,
                                  timeout=600, check=False, **comms_env)

        r = as_comms("blur", str(mine / "photos"), "--out", str(mine / "out"), "--service",
                     str(sock), "--json")
        assert r.returncode in (0, 3), r.stderr
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        # Ben is on the CP register: his photo is held, inside the service's home; Ada has no
        # consent for social: her face is redacted in the copies
        held = [o for o in lines if o["status"] == "held"]
        exported = [o for o in lines if o["status"] == "exported"]
        assert held and exported, r.stdout
        assert all(o["held_id"] for o in held)
        for o in exported:
            out = Path(o["output"])
            assert out.parent == mine / "out" and os.stat(out).st_uid == comms.pw_uid
            assert out.read_bytes()[:2] == b"\xff\xd8"
            assert ("restricted", "redact") in [(f["label"], f["action"]) for f in o["faces"]]
        assert "Ada" not in r.stdout and "P001" not in r.stdout and "cp" not in r.stdout.split()
        assert any(d.is_dir() for d in home.held_dir.iterdir())

        # ... and cannot read any of the home: store, key, held originals, audit log
        secrets_ = [p for p in home.root.rglob("*") if p.is_file()]
        assert any("keys" in p.parts for p in secrets_)
        assert any("held" in p.parts for p in secrets_)
        assert any("audit" in p.name for p in secrets_)
        for p in [home.root, *secrets_[:40]]:
            probe = subprocess.run(["/bin/cat", str(p)] if p.is_file() else ["/bin/ls", str(p)],
                                   capture_output=True, timeout=30, check=False, **comms_env)
            assert probe.returncode != 0 and b"Permission denied" in probe.stderr, p
        # nor run the blur pass on the home directly
        r = as_comms("--home", str(home.root), "blur", str(mine / "photos"), "--out",
                     str(mine / "direct"))
        assert r.returncode in (1, 2) and "not readable" in r.stderr, r.stderr
        assert not (mine / "direct").exists() or not any((mine / "direct").iterdir())

        # The watched folder: comms staff drop a photo into the shared inbox (the service's,
        # group comms, 2770); the watcher runs as the service account; the ready copy and the
        # status line are theirs to read (2750), the held and rejected originals are not.
        inbox, ready = base / "inbox", base / "ready"
        for d, mode in ((inbox, 0o2770), (ready, 0o2750)):
            d.mkdir()
            os.chown(d, svc.pw_uid, comms.pw_gid)
            os.chmod(d, mode)
        r = subprocess.run(["/bin/cp", str(mine / "photos" / "visit.jpg"), str(inbox)],
                           capture_output=True, timeout=30, check=False, **comms_env)
        assert r.returncode == 0, r.stderr
        watch_env = _drop_to(svc, str(home.root))
        watch_env["extra_groups"] = [comms.pw_gid]
        watch_env["env"].update({"SAFEGUARD_USER": "test-comms",
                                 "SAFEGUARD_PASSWORD": TEST_PASSWORD})
        r = subprocess.run([*py, "--home", str(home.root), "watch", str(inbox), "--ready",
                            str(ready), "--once", "--settle", "0.1", "--jobs", "1"],
                           cwd="/", capture_output=True, text=True, timeout=600, check=False,
                           **watch_env)
        assert r.returncode == 0, r.stderr
        got = subprocess.run(["/bin/cat", str(ready / "visit.jpg")], capture_output=True,
                             timeout=30, check=False, **comms_env)
        assert got.returncode == 0 and got.stdout[:2] == b"\xff\xd8"
        status = subprocess.run(["/bin/cat", str(inbox / "_safeguard-status.txt")],
                                capture_output=True, text=True, timeout=30, check=False,
                                **comms_env)
        assert "visit.jpg  ->  ready as visit.jpg" in status.stdout, status
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(base, ignore_errors=True)
        for d, mode in opened:
            os.chmod(d, mode)
        for u in (f"sgsvc{tag}", f"sgcom{tag}"):
            subprocess.run(["userdel", "--remove", u], capture_output=True, check=False)
