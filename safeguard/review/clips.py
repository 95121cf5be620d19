"""A held clip on the review page: the clip played with its tracks outlined and labelled, the
redacted preview, and a strip of each track's best frames (safeguard.video.sheet). The page
itself (`clip.html`) is the held photo's page for a clip: the same release and reject forms,
with one choice per track, and the release goes through safeguard.review.decisions as a photo's.

Everything is drawn from the held original, only after the session's door says the clip is still
held and in the account's academy, and kept in memory for the next request (a video element asks
for its file in ranges); what was drawn of a clip no longer held is dropped.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from safeguard.held import HeldError
from safeguard.review import decisions

CLIP_KINDS = {"annotated", "preview"}
KEEP_BYTES = 512 * 1024**2  # what is kept drawn in memory, at most
RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


def template_for(rec: dict) -> str:
    """The page of a held item: a clip's or a photo's."""
    return "clip.html" if rec.get("kind") == "video" else "image.html"


def track_rows(rec: dict, names: dict[str, str]) -> list[dict]:
    """decisions.face_rows for a clip, each with when its track is seen."""
    rows = decisions.face_rows(rec, names)
    tracks = rec.get("tracks") or []
    for row in rows:
        t = tracks[row["index"]] if row["index"] < len(tracks) else {}
        row["seconds"] = t.get("seconds") or [0, 0]
    return rows


def ranged(request: Request, data: bytes, media_type: str) -> Response:
    """`data`, or the part a Range header asks for (a video element seeks by ranges)."""
    m = RANGE_RE.fullmatch(request.headers.get("range", "").strip())
    size = len(data)
    if not m or not (m.group(1) or m.group(2)):
        return Response(data, media_type=media_type, headers={"accept-ranges": "bytes"})
    if m.group(1):
        start = int(m.group(1))
        end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
    else:  # the last N bytes
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size or start > end:
        return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
    return Response(data[start:end + 1], status_code=206, media_type=media_type,
                    headers={"accept-ranges": "bytes",
                             "content-range": f"bytes {start}-{end}/{size}"})


def routes(held: Any, config: Any, door_of: Callable[[Any], Any],
           reviewer: Callable[[Request], Any], valid_id: Callable[[str], bool]) -> list[Route]:
    """`reviewer(request)`: the signed-in DSL session or None; `door_of(session)`: its door."""
    drawn: OrderedDict[tuple, Any] = OrderedDict()
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def forget_decided() -> None:
        """Drop what was drawn of clips no longer held (released, rejected)."""
        with guard:
            for key in list(drawn):
                if not (held.folder / key[0] / "original").exists():
                    del drawn[key]

    def cached(key: tuple, make: Callable[[], Any]) -> Any:
        forget_decided()
        with guard:
            lock = locks.setdefault(key[0], threading.Lock())
        with lock:  # one drawing at a time per clip; a second request waits for the first
            with guard:
                if key in drawn:
                    drawn.move_to_end(key)
                    return drawn[key]
            value = make()
            with guard:
                drawn[key] = value
                while sum(_size(v) for v in drawn.values()) > KEEP_BYTES and len(drawn) > 1:
                    drawn.popitem(last=False)
            return value

    def held_clip(request: Request, held_id: str) -> tuple[dict, Any]:
        door = door_of(reviewer(request))
        rec = door.held_record(held_id)  # still held and in scope, or DecisionError
        if rec.get("kind") != "video":
            raise decisions.DecisionError("not a clip")
        return rec, door

    def original(door: Any, held_id: str, rec: dict) -> bytes:
        import hashlib

        data = door.held_original(held_id)
        if rec.get("sha256") and hashlib.sha256(data).hexdigest() != rec["sha256"]:
            raise HeldError("the held original does not match its record")
        return data

    async def clip_media(request: Request) -> Response:
        if reviewer(request) is None:
            return PlainTextResponse("sign in first", 401)
        held_id, kind = request.path_params["held_id"], request.path_params["kind"]
        if not valid_id(held_id) or kind not in CLIP_KINDS:
            return PlainTextResponse("no such clip", 404)

        def make() -> bytes:
            from safeguard.video.sheet import clip

            rec, door = held_clip(request, held_id)
            names = door.names()
            return cached((held_id, kind, rec.get("sha256")), lambda: clip(
                original(door, held_id, rec), rec, names, kind, decisions.previewed(rec),
                config.style, config.mask_scale, threads=2))

        try:
            data = await run_in_threadpool(make)
        except (decisions.DecisionError, HeldError, OSError):
            return PlainTextResponse("no such clip", 404)
        except Exception:  # noqa: BLE001 - an undecodable original: say so, show nothing
            return PlainTextResponse("this clip cannot be drawn", 500)
        return ranged(request, data, "video/mp4")

    async def track_strip(request: Request) -> Response:
        if reviewer(request) is None:
            return PlainTextResponse("sign in first", 401)
        held_id, n = request.path_params["held_id"], request.path_params["n"]
        if not valid_id(held_id):
            return PlainTextResponse("no such clip", 404)

        def make() -> bytes:
            from safeguard.video.sheet import strips

            rec, door = held_clip(request, held_id)
            all_strips = cached((held_id, "strips", rec.get("sha256")),
                                lambda: strips(original(door, held_id, rec), rec))
            if not 1 <= n <= len(all_strips):
                raise decisions.DecisionError("no such track")
            return all_strips[n - 1]

        try:
            data = await run_in_threadpool(make)
        except (decisions.DecisionError, HeldError, OSError):
            return PlainTextResponse("no such clip", 404)
        except Exception:  # noqa: BLE001
            return PlainTextResponse("this clip cannot be drawn", 500)
        return Response(data, media_type="image/jpeg")

    return [
        Route("/clip/{held_id}/{kind}.mp4", clip_media, methods=["GET"]),
        Route("/clip/{held_id}/track/{n:int}.jpg", track_strip, methods=["GET"]),
    ]


def _size(value: Any) -> int:
    return len(value) if isinstance(value, bytes) else sum(len(v) for v in value)
