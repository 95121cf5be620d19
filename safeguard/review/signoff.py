"""Sign-off on the review page: posts waiting for approval (safeguard.approvals), for a DSL or a
senior leader (role slt).

A senior leader sees only this: the posts, their redacted copies, their captions with what
identifies a child highlighted (the kind of thing found, never whose consent or register), and
two buttons. Held originals, registers and the audit log stay the DSL's. Post ids in URLs must
match approvals.ID_RE before anything touches the disk; copies are drawn in memory from the
sealed post, and only while it awaits a decision.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from safeguard import approvals
from safeguard.review import render
from safeguard.review.auth import csrf_ok
from safeguard.review.words import quoted_findings
from safeguard.scope import academy_of


def caption_parts(caption: str | None, door: Any) -> list[tuple[str, str | None]]:
    """The caption cut into (text, what was found there or None), in order, for highlighting."""
    if not caption:
        return []
    parts, at = [], 0
    for f in sorted(door.check_caption(caption), key=lambda f: (f.start, -f.end)):
        if f.start < at:  # overlaps one already marked
            continue
        if f.start > at:
            parts.append((caption[at:f.start], None))
        parts.append((caption[f.start:f.end], f.what))
        at = f.end
    if at < len(caption):
        parts.append((caption[at:], None))
    return parts


def with_kind(post: dict) -> list[dict]:
    """The post's files, each saying whether it is a clip (a video element plays it)."""
    return [{**f, "clip": approvals.is_clip(f["name"])} for f in post["files"]]


def routes(home: Any, door_of: Callable[[Any], Any], approver: Callable[[Request], Any],
           page: Callable[..., Response], to_login: Callable[[], Response]) -> list[Route]:
    """`approver(request)`: the signed-in session of a DSL or a senior leader, or None;
    `door_of(session)`: its account's door (safeguard.door)."""

    def valid(post_id: str) -> bool:
        return isinstance(post_id, str) and bool(approvals.ID_RE.fullmatch(post_id))

    def awaiting(post_id: str, scope: str | None) -> dict:
        post = approvals.get_for(home, post_id, scope)
        if post["state"] != approvals.AWAITING:
            raise approvals.ApprovalError("this post was already decided")
        return post

    async def list_page(request: Request) -> Response:
        s = approver(request)
        if s is None:
            return to_login()
        door = door_of(s)

        def listed() -> list[dict]:
            out = []
            for post in approvals.pending(home, scope=academy_of(s.reviewer)):
                try:
                    flags = approvals.caption_findings(post, door.check_caption)
                except approvals.ApprovalError:
                    flags = ["cannot be checked"]
                out.append({**post, "caption_flags": flags, "files": with_kind(post)})
            return out

        posts = await run_in_threadpool(listed)
        return page(request, s, "approvals.html", posts=posts)

    async def post_page(request: Request) -> Response:
        s = approver(request)
        if s is None:
            return to_login()
        post_id = request.path_params["post_id"]
        if not valid(post_id):
            return PlainTextResponse("no such post", 404)
        try:
            post = await run_in_threadpool(approvals.get_for, home, post_id,
                                           academy_of(s.reviewer))
        except approvals.ApprovalError:
            return PlainTextResponse("no such post", 404)
        parts = await run_in_threadpool(caption_parts, post.get("caption"), door_of(s))
        return page(request, s, "post.html", post={**post, "files": with_kind(post)}, parts=parts,
                    flagged=quoted_findings(parts),
                    error=request.query_params.get("error"))

    def draw(post_id: str, n: int, scope: str | None) -> bytes:
        from safeguard.images import decode_image

        post = awaiting(post_id, scope)
        name, data = approvals.copies(home, post)[n]
        if approvals.is_clip(name):  # a clip is played (copy_clip), not drawn
            raise IndexError(n)
        im, _ = render.scale_to(decode_image(data).rgb, render.SCREEN_SIDE)
        return render.jpeg(im)

    async def copy_image(request: Request) -> Response:
        s = approver(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        post_id, n = request.path_params["post_id"], request.path_params["n"]
        if not valid(post_id):
            return PlainTextResponse("no such image", 404)
        try:
            data = await run_in_threadpool(draw, post_id, n, academy_of(s.reviewer))
        except (approvals.ApprovalError, IndexError, OSError):
            return PlainTextResponse("no such image", 404)
        except Exception:  # noqa: BLE001 - an undecodable copy: say so, show nothing
            return PlainTextResponse("this image cannot be drawn", 500)
        return Response(data, media_type="image/jpeg")

    def clip_of(post_id: str, n: int, scope: str | None) -> tuple[bytes, str]:
        """The post's n-th copy, a clip, as it will be published (already checked: its container
        against the allow-list, its frames for faces), for the approver to play."""
        post = awaiting(post_id, scope)
        name, data = approvals.copies(home, post)[n]
        if not approvals.is_clip(name):
            raise IndexError(n)
        return data, approvals.CLIP_TYPES[PurePath(name).suffix.lower()]

    async def copy_clip(request: Request) -> Response:
        from safeguard.review.clips import ranged

        s = approver(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        post_id, n = request.path_params["post_id"], request.path_params["n"]
        if not valid(post_id):
            return PlainTextResponse("no such clip", 404)
        try:
            data, media_type = await run_in_threadpool(clip_of, post_id, n,
                                                       academy_of(s.reviewer))
        except (approvals.ApprovalError, IndexError, OSError):
            return PlainTextResponse("no such clip", 404)
        return ranged(request, data, media_type)

    async def decide(request: Request) -> Response:
        s = approver(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        post_id, action = request.path_params["post_id"], request.path_params["action"]
        if not valid(post_id) or action not in ("approve", "decline"):
            return PlainTextResponse("no such post", 404)
        form = await request.form()
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged: reload the page", 403)
        who, scope = s.reviewer.user, academy_of(s.reviewer)
        try:
            if action == "approve":
                door = door_of(s)
                post = await run_in_threadpool(
                    lambda: approvals.approve(home, post_id, who, door.audit,
                                              str(form.get("note", "")), scope=scope,
                                              check=door.check_caption,
                                              caption_confirmed=form.get("caption_ok") == "yes"))
                # the folder by its name: a senior leader needs no path on the server
                where = PurePath(str(post["out_dir"])).name or "its folder"
                s.flash = (f"Approved {post_id}: {len(post['written'])} photo(s) published to "
                           f"the folder \u201c{where}\u201d.")
            else:
                door = door_of(s)
                await run_in_threadpool(
                    lambda: approvals.decline(home, post_id, who, str(form.get("reason", "")),
                                              door.audit, scope=scope, check=door.check_caption))
                s.flash = f"Declined {post_id}: its copies are destroyed."
        except approvals.ApprovalError as e:
            from urllib.parse import quote

            return RedirectResponse(f"/approvals/{post_id}?error={quote(str(e))}",
                                    status_code=303)
        return RedirectResponse("/approvals", status_code=303)

    return [
        Route("/approvals", list_page, methods=["GET"]),
        Route("/approvals/{post_id}", post_page, methods=["GET"]),
        Route("/approvals/{post_id}/copy/{n:int}.jpg", copy_image, methods=["GET"]),
        Route("/approvals/{post_id}/copy/{n:int}.mp4", copy_clip, methods=["GET"]),
        Route("/approvals/{post_id}/{action}", decide, methods=["POST"]),
    ]
