"""The photo service: comms staff run the blur pass without holding any key.

The service runs as the account that owns the home (store, keys, held originals, audit log) and
listens on a Unix socket that only the comms group may open (docs/deploy.md). `safeguard blur`
and `scan` with `--service SOCKET` (or `SAFEGUARD_SERVICE`) read the photos as the comms user,
send them over the socket, and write the publishable copies the service sends back; they never
open the home. Photos that need the DSL are held inside the home, where comms staff cannot read.

The protocol, one batch per connection (every message a JSON line; bytes follow a line that
gives their `size`):

    client: {"op": "hello", "v": 1, "user", "password", "channel", "unknown", "style", "format",
             "quality", "groups", "write", "caption", "text", "audio"}
    server: {"ok": true, "caption": [...findings] | null} | {"ok": false, "error": "...",
             "usage": bool}
    client: {"op": "photo", "path": "...", "size": N} + N bytes          (repeated)
    server: {"ok": true, "outcome": {...public outcome...}, "size": M} + M bytes (the copy; 0
            when nothing is exported or nothing is written)

The client signs in once per batch with the same account rules as everywhere else (comms up);
the server answers each photo with what `blur` would print, never a name or a reason. The OS
user on the other end of the socket (SO_PEERCRED) is the sign-in's source: failed sign-ins slow
down that OS user's further tries (kept in this process's memory), never lock the account.

Bounded, because every member of the comms group can open the socket: at most MAX_CONNECTIONS
batches at once and MAX_PER_PEER from one OS user (one more is told to wait), so one member
cannot take every place; a connection that sends nothing for IDLE_TIMEOUT, or has not sent its
whole `hello` by then (a byte now and then), is closed; and a refused `hello` (a wrong password, an unknown user, a name that
cannot be an account's) leaves nothing in the home: no failure count, no audit entry, except the
one entry when a source starts having to wait (consent_db.throttle), so the DSL sees guessing
without a guesser being able to grow the log at will.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import socketserver
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from safeguard.exitcodes import SafeguardError
from safeguard.images import MAX_FILE_BYTES

PROTOCOL = 1
SCRATCH_PREFIX = ".service-"  # a batch's scratch folder in the home; left by a crash: removed
MAX_LINE = 64 * 1024
MAX_CONNECTIONS = 16  # batches served at once; each may hold a photo of MAX_FILE_BYTES in memory
MAX_PER_PEER = 4  # of them from one OS user (a `blur --service` is one batch)
IDLE_TIMEOUT = 120.0  # seconds a connection may send nothing before it is closed
log = logging.getLogger("safeguard.service")


class ServiceError(SafeguardError):
    """The service refused or failed; the message is one line fit for the user. `usage`: a bad
    option (exit 2) rather than a refusal (exit 1)."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


# ---------------------------------------------------------------------------------------------
# Framing


def send(sock_file, header: dict, data: bytes = b"") -> None:
    sock_file.write(json.dumps(header).encode() + b"\n")
    if data:
        sock_file.write(data)
    sock_file.flush()


def receive(sock_file, max_size: int = MAX_FILE_BYTES) -> tuple[dict | None, bytes]:
    """(header, bytes) of the next message; (None, b"") at the end of the stream."""
    line = sock_file.readline(MAX_LINE + 1)
    if not line:
        return None, b""
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise ServiceError("message too long")
    try:
        header = json.loads(line)
    except ValueError:
        raise ServiceError("not a message") from None
    if not isinstance(header, dict):
        raise ServiceError("not a message")
    size = header.get("size", 0)
    if not isinstance(size, int) or size < 0 or size > max_size:
        raise ServiceError(f"a photo of {size} bytes is more than the {max_size} allowed")
    data = sock_file.read(size) if size else b""
    if len(data) != size:
        raise ServiceError("connection closed in the middle of a photo")
    return header, data


def peer_uid(sock: socket.socket) -> int | None:
    """The OS user on the other end of a Unix socket (Linux SO_PEERCRED)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[1]
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None


# ---------------------------------------------------------------------------------------------
# Server


@dataclass
class Batch:
    session: object  # safeguard.publish.Session: the batch, its job and its post
    work: Path  # the batch's scratch folder under the home (owner-only)

    @property
    def caption(self) -> list | None:  # the caption's findings (public form)
        return self.session.caption


class PhotoService:
    """What the server does with a batch: sign in, open the publish session (safeguard.publish),
    process each photo. A transport: the choices, checks, job and post are the session's."""

    def __init__(self, home, config, jobs: int = 1) -> None:
        from consent_db.throttle import Throttle

        self.home = home
        self.config = config
        self.slots = threading.BoundedSemaphore(max(1, jobs))
        self.throttle = Throttle()  # failed sign-ins per peer OS user, in memory only
        for stale in home.root.glob(SCRATCH_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)

    def hello(self, msg: dict, source: str = "socket") -> Batch:
        from consent_db import StoreError
        from safeguard.accepted_settings import accepted_config
        from safeguard.config import ConfigError
        from safeguard.door import Entrance, Refused

        if msg.get("op") != "hello" or msg.get("v") != PROTOCOL:
            raise ServiceError(f"this service speaks protocol {PROTOCOL}; update safeguard")
        user, password = msg.get("user"), msg.get("password")
        if not isinstance(user, str) or not isinstance(password, str) or not user:
            raise ServiceError("sign in first: --as USER or SAFEGUARD_USER, with "
                               "SAFEGUARD_PASSWORD or a password prompt")
        from consent_db.staff import valid_user_name

        if not valid_user_name(user) or len(password) > 1024:  # before it goes anywhere
            raise ServiceError("sign-in failed: that is not a staff user name (letters, digits, "
                               "'.', '_', '@' or '-', at most 64)")
        try:
            entrance = Entrance.open(self.home, self.config)
            who = entrance.verify_staff(user, password, source=source, throttle=self.throttle,
                                        audit_failures=False)
            if who is None:
                raise ServiceError(f"sign-in as {user} failed (wrong password or no such "
                                   "account)")
            door = entrance.door(who)  # the batch reaches the store only through it
            try:
                door.need("photos")
            except Refused as e:
                raise ServiceError(str(e)) from None
            # read for every batch: a file changed since the service started stops the next
            # batch; settings accepted since then apply to it
            cfg = accepted_config(self.home, entrance)
            if cfg.channels != entrance.channels:
                entrance = Entrance.open(self.home, cfg)
            door = entrance.door(who, cfg)  # the batch reaches the store only through it
        except (StoreError, ConfigError) as e:
            raise ServiceError(str(e)) from e
        request = _request(msg)
        self.home.ensure()
        work = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=self.home.root))
        from safeguard.publish import RequestError, Session

        try:
            session = Session(self.home, who, door, cfg, request, scratch=work,
                              release_folders_only=True)
        except RequestError as e:
            shutil.rmtree(work, ignore_errors=True)
            raise ServiceError(str(e), usage=True) from None
        except (StoreError, ConfigError) as e:
            shutil.rmtree(work, ignore_errors=True)
            raise ServiceError(str(e)) from e
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        log.info("batch for %s (%s): channel %s, %s", who.user, who.role, session.channel,
                 "blur" if request.write else "scan")
        return Batch(session, work)

    def photo(self, batch: Batch, msg: dict, data: bytes) -> tuple[dict, bytes]:
        path = msg.get("path")
        if msg.get("op") != "photo" or not isinstance(path, str) or not path or "\0" in path:
            raise ServiceError("expected a photo")
        with self.slots:
            outcome = batch.session.photo(data, Path(path))
        clean = b""
        public = outcome.public()
        if outcome.output:  # a copy not gone into a post: sent back, and gone from here
            out = Path(outcome.output)
            clean = out.read_bytes()
            out.unlink()
            public["output"] = out.name  # the client writes it where it was asked to
        return public, clean

    def close(self, batch: Batch) -> None:
        shutil.rmtree(batch.work, ignore_errors=True)
        batch.session.finish()  # the post submitted, or dropped when empty


def _request(msg: dict):
    """The publish request a `hello` carries, its values checked for type (the session checks
    what they mean)."""
    from safeguard.publish import Request

    quality = msg.get("quality")
    if quality is not None and (not isinstance(quality, int) or not 1 <= quality <= 100):
        raise ServiceError("quality must be 1-100", usage=True)
    chosen = {k: msg.get(k) or None for k in ("unknown", "text", "style", "audio", "format")}
    if chosen["format"] not in (None, "jpeg", "png") or not all(
            v is None or isinstance(v, str) for v in chosen.values()):
        raise ServiceError("unknown --unknown, --text, --style, --audio or --format value",
                           usage=True)
    channel = msg.get("channel") or None
    if channel is not None and not isinstance(channel, str):
        raise ServiceError("unknown channel", usage=True)
    groups = msg.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ServiceError("groups must be names", usage=True)
    caption, out = msg.get("caption"), msg.get("out")
    return Request(channel=channel, groups=tuple(groups), quality=quality,
                   caption=caption if isinstance(caption, str) else None,
                   out=Path(out) if isinstance(out, str) and out and "\0" not in out else None,
                   write=bool(msg.get("write")), ask_dsl=_asking(msg.get("ask_dsl")), **chosen)


def _asking(ask) -> dict | None:
    """`blur --ask-dsl`'s note, suggestions and folder, checked for type and cut to length."""
    if ask is None:
        return None
    note, suggest, back = (ask.get("note"), ask.get("suggest") or [], ask.get("return_to")) \
        if isinstance(ask, dict) else (None, None, None)
    if not (note is None or isinstance(note, str)) or not isinstance(suggest, list) or \
            not all(isinstance(s, str) for s in suggest) or not isinstance(back, str):
        raise ServiceError("--ask-dsl: a note, names and a folder", usage=True)
    return {"note": " ".join((note or "").split())[:500] or None,
            "suggest": [" ".join(s.split())[:64] for s in suggest if s.strip()][:30],
            "return_to": back}


def hello_for(request) -> dict:
    """The `hello` settings of a publish request (the client's side of `_request`)."""
    return {"channel": request.channel, "unknown": request.unknown, "style": request.style,
            "format": request.format, "quality": request.quality,
            "groups": list(request.groups), "write": request.write,
            "caption": request.caption, "text": request.text, "audio": request.audio,
            "ask_dsl": request.ask_dsl,
            "out": str(request.out.absolute()) if request.out is not None else None}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # every read and write; then the socket closes
        super().setup()

    def handle(self) -> None:
        uid = peer_uid(self.connection)
        refused = self.server.admit(uid)
        if refused:
            try:
                send(self.wfile, {"ok": False, "error": refused})
            except OSError:
                pass
            return
        try:
            self._serve(uid)
        finally:
            self.server.leave(uid)

    def _hang_up(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self, uid: int | None) -> None:
        service = self.server.service
        batch = None
        try:
            # the whole hello within the idle timeout: not one byte now and then for ever
            deadline = threading.Timer(self.server.idle_timeout, self._hang_up)
            deadline.daemon = True
            deadline.start()
            try:
                msg, _ = receive(self.rfile, max_size=0)
            finally:
                deadline.cancel()
            if msg is None:
                return
            try:
                batch = service.hello(msg, source=f"socket-uid:{uid}")
            except ServiceError as e:
                log.info("refused a batch from uid %s: %s", uid, e)
                send(self.wfile, {"ok": False, "error": str(e), "usage": e.usage})
                return
            send(self.wfile, {"ok": True, "caption": batch.caption})
            while True:
                msg, data = receive(self.rfile)
                if msg is None:
                    return
                public, clean = service.photo(batch, msg, data)
                send(self.wfile, {"ok": True, "outcome": public, "size": len(clean)}, clean)
        except ServiceError as e:
            try:
                send(self.wfile, {"ok": False, "error": str(e)})
            except OSError:
                pass
        except (OSError, ConnectionError):
            return
        finally:
            if batch is not None:
                service.close(batch)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    service: PhotoService
    request_queue_size = 64  # connections waiting to be accepted, past the served ones
    idle_timeout: float = IDLE_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    max_per_peer: int = MAX_PER_PEER

    def admit(self, uid: int | None) -> str | None:
        """Take a place for a connection from `uid`; or why not (told to the client)."""
        with self._places_lock:
            if sum(self._places.values()) >= self.max_connections:
                return "the service is busy: try again shortly"
            if self._places.get(uid, 0) >= self.max_per_peer:
                return (f"{self.max_per_peer} batches from your account are already running: "
                        "wait for one to finish")
            self._places[uid] = self._places.get(uid, 0) + 1
            return None

    def leave(self, uid: int | None) -> None:
        with self._places_lock:
            self._places[uid] -= 1
            if not self._places[uid]:
                del self._places[uid]


def serve(service: PhotoService, path: Path, mode: int = 0o660,
          ready: threading.Event | None = None, *, max_connections: int = MAX_CONNECTIONS,
          max_per_peer: int = MAX_PER_PEER, idle_timeout: float = IDLE_TIMEOUT) -> _Server:
    """Listen on the Unix socket `path` (mode `mode`: the comms group's door) until shut down.
    A stale socket left by a crash is replaced; a live one is an error."""
    if path.exists() or path.is_symlink():
        if not path.is_socket():
            raise ServiceError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            raise ServiceError(f"a service is already listening on {path}")
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink()
        finally:
            probe.close()
    old = os.umask(0o777 & ~mode)  # the socket is never wider than `mode`, even for a moment
    try:
        server = _Server(str(path), _Handler)
    finally:
        os.umask(old)
    os.chmod(path, mode)
    server.service = service
    server._places_lock = threading.Lock()
    server._places = {}  # peer uid -> connections being served
    server.max_connections, server.max_per_peer = max(1, max_connections), max(1, max_per_peer)
    server.idle_timeout = idle_timeout
    if ready is not None:
        ready.set()
    return server


# ---------------------------------------------------------------------------------------------
# Client


class Client:
    """One batch over the service's socket."""

    def __init__(self, path: Path, hello: dict) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
        except FileNotFoundError:
            raise ServiceError(f"no safeguard service at {path} (is it running?)") from None
        except PermissionError:
            raise ServiceError(f"not allowed to use the service at {path} (ask the admin to add "
                               "you to the comms group)") from None
        except OSError as e:
            raise ServiceError(f"cannot reach the service at {path}: {e.strerror or e}") from None
        self.f = self.sock.makefile("rwb")
        send(self.f, {"op": "hello", "v": PROTOCOL, **hello})
        answer, _ = receive(self.f, max_size=0)
        if answer is None:
            raise ServiceError("the service closed the connection")
        if not answer.get("ok"):
            raise ServiceError(answer.get("error") or "refused", usage=bool(answer.get("usage")))
        self.caption = answer.get("caption")  # the caption's findings, when one was sent

    def photo(self, path: str, data: bytes) -> tuple[dict, bytes]:
        send(self.f, {"op": "photo", "path": path, "size": len(data)}, data)
        answer, clean = receive(self.f)
        if answer is None:
            raise ServiceError("the service closed the connection")
        if not answer.get("ok"):
            raise ServiceError(answer.get("error") or "refused")
        return answer["outcome"], clean

    def publish(self, files, early, out: Path | None):
        """Each input's public outcome: `early` ones (rejected while collecting) as they are,
        every file read here (as the person running the command) and sent; its copy written
        into `out` here (None: nothing is written)."""
        from safeguard.images import LoadError, read_bytes, write_atomic

        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        for o in early:
            yield o.public()
        for f in files:
            try:
                data = read_bytes(f)
            except LoadError as e:
                yield {"input": str(f), "status": "rejected", "error": str(e), "faces": []}
                continue
            public, clean = self.photo(str(f), data)
            public["input"] = str(f)
            if clean and out is not None:
                public["output"] = str(write_atomic(clean, out, Path(public["output"]).name))
            elif public["status"] == "exported" and out is not None:
                public["output"] = None
            yield public

    def close(self) -> None:
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass
