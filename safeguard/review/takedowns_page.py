"""Takedowns on a page of their own, for the DSL: each published photo in which a pupil was found
after their consent was withdrawn or they were put on a register, with a thumbnail (the face
found outlined), where it is published, how strong the match is in words, and two actions,
"taken down" and "not ours", each audited (safeguard.takedown.mark). The menu shows how many
photos are still to deal with.

Everything goes through the session's door: lists of pupils outside the account's academy are
refused as if they did not exist; a photo is read from the path in the sealed list, never from
the request, and only when it still has the content that was found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from safeguard.review import render, words
from safeguard.review.auth import csrf_ok

STATES = {"taken-down": "taken_down", "not-ours": "not_ours"}  # in URLs -> in the list
DONE_WORDS = {"taken_down": "taken down", "not_ours": "not ours"}


def to_deal_with(items: list[dict]) -> int:
    """How many photos of the open lists still need the DSL: each one not yet marked, each one
    that could not be scanned, and a list whose search could not be done at all."""
    n = 0
    for i in items:
        n += sum(1 for h in i.get("hits") or [] if h.get("state") not in DONE_WORDS)
        n += len(i.get("unscanned") or [])
        n += 1 if i.get("problem") else 0
    return n


def view(item: dict, strength: Callable[[float | None], str],
         web_address: Callable[[str], str | None] = lambda path: None) -> dict:
    """One list as the page shows it: words for each photo, the figures kept for "show the
    figure", and its web address where its release folder's is known."""
    from pathlib import PurePath

    hits = []
    for n, h in enumerate(item.get("hits") or []):
        hits.append({
            "n": n,
            "name": PurePath(str(h.get("path", ""))).name,
            "path": h.get("path"),
            "url": h.get("url") or web_address(str(h.get("path", ""))),
            "strength": strength(h.get("distance")),
            "figure": words.figure(h.get("distance")),
            "done": DONE_WORDS.get(h.get("state") or ""),
            "by": h.get("marked_by"),
        })
    return {**item, "photos": hits,
            "open": sum(1 for h in hits if not h["done"])}


def thumbnail(hit: dict, data: bytes, max_pixels: int) -> bytes:
    """The published photo scaled for the page, the face that was found outlined."""
    from PIL import ImageDraw

    from safeguard.images import decode_image

    im, f = render.scale_to(decode_image(data, max_pixels=max_pixels).rgb, render.THUMB_SIDE)
    box = hit.get("box")
    if isinstance(box, list | tuple) and len(box) == 4:
        x0, y0, x1, y1 = (round(float(v) * f) for v in box)
        ImageDraw.Draw(im).rectangle((x0, y0, x1, y1), outline=render.COLOURS["restricted"],
                                     width=max(2, round(max(im.size) / 160)))
    return render.jpeg(im)


def routes(config: Any, door_of: Callable[[Any], Any], reviewer: Callable[[Request], Any],
           page: Callable[..., Response], to_login: Callable[[], Response]) -> list[Route]:
    """`reviewer(request)`: the signed-in DSL session or None; `door_of(session)`: its door."""
    from safeguard import takedown
    from safeguard.images import LoadError

    def strength(d: float | None) -> str:
        return words.match_strength(d, config.clear_tolerance, config.restrict_tolerance)

    async def list_page(request: Request) -> Response:
        s = reviewer(request)
        if s is None:
            return to_login()
        items = await run_in_threadpool(door_of(s).takedowns, True)
        return page(request, s, "takedowns.html",
                    items=[view(i, strength, config.web_address) for i in items])

    async def photo(request: Request) -> Response:
        s = reviewer(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        item_id, n = request.path_params["item_id"], request.path_params["n"]
        try:
            hit, data = await run_in_threadpool(door_of(s).takedown_photo, item_id, n,
                                                config.max_file_bytes)
            jpeg = await run_in_threadpool(thumbnail, hit, data, config.max_pixels)
        except (takedown.TakedownError, LoadError, OSError):
            return PlainTextResponse("no such photo", 404)
        except Exception:  # noqa: BLE001 - an undecodable file: say so, show nothing
            return PlainTextResponse("this photo cannot be drawn", 500)
        return Response(jpeg, media_type="image/jpeg")

    async def mark(request: Request) -> Response:
        s = reviewer(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        item_id, n = request.path_params["item_id"], request.path_params["n"]
        state = STATES.get(request.path_params["state"])
        if state is None:
            return PlainTextResponse("not found", 404)
        form = await request.form()
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged: reload the page", 403)
        note = " ".join(str(form.get("note", "")).split())[:500] or None
        try:
            item = await run_in_threadpool(door_of(s).mark_takedown, item_id, n, state, note)
        except takedown.TakedownError:
            return PlainTextResponse("no such takedown photo", 404)
        name = str(item["hits"][n].get("path", "")).rsplit("/", 1)[-1]
        s.flash = f"Marked {name} {DONE_WORDS[state]}." + (
            " Every photo on that list is dealt with: the list is closed."
            if item.get("state") == "closed" else "")
        return RedirectResponse("/takedowns", status_code=303)

    async def close(request: Request) -> Response:
        s = reviewer(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        item_id = request.path_params["item_id"]
        form = await request.form()
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged: reload the page", 403)
        note = str(form.get("note", "")).strip()[:500] or None
        try:  # another academy's list is refused as if it did not exist
            await run_in_threadpool(door_of(s).close_takedown, item_id, note)
        except takedown.TakedownError:
            return PlainTextResponse("no such takedown item", 404)
        s.flash = f"Takedown list {item_id} closed."
        return RedirectResponse("/takedowns", status_code=303)

    return [
        Route("/takedowns", list_page, methods=["GET"]),
        Route("/takedowns/{item_id}/photo/{n:int}.jpg", photo, methods=["GET"]),
        Route("/takedowns/{item_id}/photo/{n:int}/{state}", mark, methods=["POST"]),
        Route("/takedown/{item_id}/close", close, methods=["POST"]),
    ]
