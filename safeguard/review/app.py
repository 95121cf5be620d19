"""The DSL's review web app: a small server-rendered Starlette app for one machine.

Security, in the order a request meets it:
- only Host names the server answers for (DNS rebinding), loopback by default;
- every response: `Cache-Control: no-store`, a `default-src 'self'` Content-Security-Policy, no
  framing, referrers only to itself;
- cross-site POSTs refused by `Sec-Fetch-Site` (as datasette does) and by `Origin`;
- every page but the login page needs a signed-in DSL session (pages redirect to /login, images
  answer 401), but the sign-off pages (/approvals, safeguard.review.signoff), which a senior
  leader (role slt) may use too and which show nothing else; every form carries the session's
  CSRF token;
- held ids in URLs must match held.ID_RE exactly before anything touches the disk, and images
  are drawn from the held original in memory: no URL names a file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from safeguard.approvals import needs_approval
from safeguard.config import Config
from safeguard.held import ID_RE, HeldError, HeldQueue
from safeguard.review import (
    audit_page,
    clips,
    confirm,
    decisions,
    render,
    signoff,
    takedowns_page,
    words,
)
from safeguard.review.auth import (
    COOKIE,
    REVIEW_ROLE,
    AuthError,
    Session,
    Sessions,
    Throttle,
    TooManyTries,
    csrf_ok,
    sign_in,
)

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "pragma": "no-cache",
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
SAFE_FETCH_SITES = {"same-origin", "none"}
IMAGE_KINDS = {"annotated", "preview", "thumb"}


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response and refuses cross-site POSTs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers[k] = v
            await send(message)

        if scope["method"] not in ("GET", "HEAD") and _cross_site(Request(scope)):
            await PlainTextResponse("cross-site request refused", 403)(
                scope, receive, send_with_headers
            )
            return
        await self.app(scope, receive, send_with_headers)


def _cross_site(request: Request) -> bool:
    """Browsers say where a request comes from in Sec-Fetch-Site; when it is absent (an old
    browser, or not a browser) a real Origin must match the Host. Origin "null" is what Chromium
    sends for a same-origin form under a strict referrer policy, so only Sec-Fetch-Site or a
    real Origin can refuse."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in SAFE_FETCH_SITES
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin.split("://", 1)[-1] != request.headers.get("host", "")
    return False


def create_app(
    home: Any,
    config: Config,
    *,
    store: Any = None,
    allowed_hosts: list[str] | None = None,
    ready_dir: Path | None = None,
    sessions: Sessions | None = None,
    throttle: Throttle | None = None,
) -> Starlette:
    """The review app for `home`. `store`: its entrance (safeguard.door.Entrance; or the
    consent store, given one) through which each session signs in and gets its own door: every
    page reaches held photos, takedowns, names and the audit log only through the door of the
    session's account, checked for its role and academy. `allowed_hosts`: Host header values
    served (default the loopback names); `ready_dir`: the folder `review serve --out` names,
    offered as "Ready to post" beside the settings' release_folders."""
    from safeguard.door import Entrance

    if store is None:
        store = Entrance.open(home, config)
    elif not isinstance(store, Entrance):
        store = Entrance(store, home, config)
    entrance = store
    held = HeldQueue(home.held_dir)
    # the page releases only to these: never to a path typed in the form
    # the page releases only to these, picked by their label: never to a path typed in the form
    folders = release_choices(config, ready_dir)
    sessions = sessions or Sessions()
    throttle = throttle or Throttle()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["review_days"] = config.held_review_days
    templates.env.globals["figure"] = words.figure
    templates.env.globals["match_strength"] = lambda d: words.match_strength(
        d, config.clear_tolerance, config.restrict_tolerance)

    # -- helpers ------------------------------------------------------------------------------

    def session_of(request: Request) -> Session | None:
        """The request's session; a signed-in one ends here, at once, when its account was
        removed or re-made or its role or academy changed since it signed in."""
        s = sessions.get(request.cookies.get(COOKIE))
        if s is not None and s.reviewer is not None and not account_unchanged(s.reviewer):
            sessions.drop(s.id)
            return None
        return s

    def account_unchanged(who: Any) -> bool:
        # fail closed: a store that cannot say what the account is now ends the session
        return store.staff_stamp(who.user) == who.stamp

    def reviewer_session(request: Request) -> Session | None:
        """A signed-in DSL: held photos, registers, takedowns, the audit log."""
        s = session_of(request)
        return s if s is not None and s.reviewer is not None and \
            s.reviewer.role == REVIEW_ROLE else None

    def approver_session(request: Request) -> Session | None:
        """A signed-in DSL or senior leader: the sign-off pages."""
        s = session_of(request)
        return s if s is not None and s.reviewer is not None else None

    def start_page(s: Session) -> str:
        return "/" if s.reviewer is not None and s.reviewer.role == REVIEW_ROLE else "/approvals"

    def page(request: Request, s: Session, name: str, status: int = 200, **ctx: Any) -> Response:
        flash, s.flash = s.flash, None
        ctx.update(session=s, reviewer=s.reviewer, csrf=s.csrf, flash=flash)
        if s.reviewer is not None and s.reviewer.role == REVIEW_ROLE:
            # the menu's count: published photos still to take down (safeguard.takedown)
            ctx["takedown_count"] = takedowns_page.to_deal_with(door_of(s).takedowns(True))
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def to_login() -> Response:
        return RedirectResponse("/login", status_code=303)

    def set_cookie(resp: Response, s: Session) -> Response:
        resp.set_cookie(
            COOKIE, s.id, httponly=True, samesite="strict", path="/", max_age=int(sessions.lifetime)
        )
        return resp

    def door_of(s: Session) -> Any:
        """The door of the session's account (safeguard.door: its role and academy)."""
        return entrance.door(s.reviewer, config)

    def folder_offered() -> int:
        """The folder selected first: the one last released into, else the first."""
        last = decisions.last_ready_dir(home, config)
        paths = [Path(p).resolve() for _, p in folders]
        return paths.index(last.resolve()) if last is not None and last.resolve() in paths else 0

    def chosen_folder(value: Any) -> str:
        """The path of the folder picked in the form (its number in the list), or an error."""
        if not folders:
            raise decisions.DecisionError(
                "no release folder is configured: an admin sets release_folders in the "
                "settings (or starts the page with `review serve --out DIR`)")
        text = str(value or "")
        if not (text.isascii() and text.isdigit()) or int(text) >= len(folders):
            raise decisions.DecisionError("choose a release folder from the list")
        return folders[int(text)][1]

    def valid_id(held_id: str) -> bool:
        return isinstance(held_id, str) and bool(ID_RE.fullmatch(held_id))

    # -- sign in and out ----------------------------------------------------------------------

    def is_page_request(request: Request) -> bool:
        """Is this the browser loading a page (or a client that does not say)? A browser also
        fetches things on its own: /favicon.ico, with no cookie when the first page had none yet.
        Sent to the sign-in page, such a request would start a second session whose cookie
        replaces the one behind the form on screen: the sign-in then fails as a forged form."""
        return request.headers.get("sec-fetch-dest", "document") in ("document", "")

    async def login_page(request: Request) -> Response:
        s = session_of(request)
        if s is not None and s.reviewer is not None:
            return RedirectResponse(start_page(s), status_code=303)
        if not is_page_request(request):
            return PlainTextResponse("not found", 404)
        s = s or sessions.new()
        return set_cookie(page(request, s, "login.html"), s)

    async def login(request: Request) -> Response:
        s = session_of(request)
        form = await request.form()
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged: reload the login page", 403)
        # the address the connection came from: uvicorn replaces it from X-Forwarded-For only
        # for the proxies named in review_trusted_proxies (safeguard.commands.review)
        client = request.client.host if request.client else "?"
        # not cut to length before the check: a long name is refused, never taken as its start
        user = str(form.get("user", ""))[:1024]
        try:
            who = await run_in_threadpool(
                lambda: sign_in(store, user, str(form.get("password", ""))[:1024],
                                source=f"web:{client}", throttle=throttle))
        except AuthError as e:
            return page(request, s, "login.html", status=429 if isinstance(e, TooManyTries)
                        else 401, error=str(e), user=user[:64])
        sessions.drop(s.id)  # a fresh id on sign-in: no session fixation
        fresh = sessions.new(who)
        return set_cookie(RedirectResponse(start_page(fresh), status_code=303), fresh)

    async def logout(request: Request) -> Response:
        s = session_of(request)
        form = await request.form()
        if s is None or not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged", 403)
        sessions.drop(s.id)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    # -- pages --------------------------------------------------------------------------------

    async def queue_page(request: Request) -> Response:
        s = reviewer_session(request)
        if s is None:
            return to_login() if approver_session(request) is None else \
                RedirectResponse("/approvals", status_code=303)
        door = door_of(s)
        items = await run_in_threadpool(door.held_queue, config.held_review_days)
        counts = {
            "held": len(items),
            "overdue": sum(i.overdue for i in items),
            "restricted": sum(i.restricted for i in items),
            "unknown": sum(i.unknown for i in items),
        }
        return page(request, s, "queue.html", items=items, counts=counts)

    async def image_page(request: Request) -> Response:
        s = reviewer_session(request)
        if s is None:
            return to_login()
        held_id = request.path_params["held_id"]
        if not valid_id(held_id):
            return PlainTextResponse("no such held image", 404)
        door = door_of(s)
        try:
            rec = door.held_record(held_id)
        except decisions.DecisionError as e:
            return PlainTextResponse(str(e), 404)
        who = await run_in_threadpool(door.names)
        faces = decisions.face_rows(rec, who)
        item = decisions.queue_item(rec, config.held_review_days)
        parts = await run_in_threadpool(signoff.caption_parts, rec.get("caption"), door)
        if rec.get("kind") == "video":  # a clip's page plays it (safeguard.review.clips)
            faces = clips.track_rows(rec, who)
        choices = await run_in_threadpool(door.face_choices, held_id)
        return page(
            request,
            s,
            clips.template_for(rec),
            item=item,
            rec=rec,
            faces=faces,
            choices=choices,
            asked=rec.get("asked"),
            returns_to=decisions.return_folder(rec),
            names=who,
            folders=[label for label, _ in folders],
            folder_offered=folder_offered(),
            error=request.query_params.get("error"),
            parts=parts,
            flagged=words.quoted_findings(parts),
            sign_off=needs_approval(config, rec.get("channel") or ""),
        )

    # -- decisions ----------------------------------------------------------------------------

    async def decide(request: Request) -> Response:
        s = reviewer_session(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        held_id, action = request.path_params["held_id"], request.path_params["action"]
        if not valid_id(held_id) or action not in ("release", "reject"):
            return PlainTextResponse("no such held image", 404)
        form = await request.form()
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged: reload the page", 403)
        reason = str(form.get("reason", ""))
        try:
            if action == "reject":
                await run_in_threadpool(door_of(s).reject, held_id, reason)
                drawn.cache_clear()  # no rendering of a destroyed original stays in memory
                s.flash = f"Rejected {held_id}: the original is destroyed."
                return RedirectResponse("/", status_code=303)
            mode = form.get("mode")
            kw: dict[str, Any] = {"reason": reason,
                                  "caption_confirmed": form.get("caption_ok") == "yes"}
            if mode == "redacted-approve":  # release and sign off at once: audited as both
                mode, kw["approve"] = "redacted", True
            if mode == "choices":
                try:
                    kw["redact"] = {int(v) for v in form.getlist("redact")}
                except ValueError:
                    raise decisions.DecisionError("bad face choice") from None
            elif mode == "unredacted":
                kw["unredacted"] = True
            elif mode != "redacted":
                raise decisions.DecisionError("choose how to release")
            door = door_of(s)
            # a photo comms staff sent to check goes back to the folder it was sent from (the
            # sealed record says, decisions.release): no release folder is chosen, or needed
            back = decisions.return_folder(await run_in_threadpool(door.held_record, held_id))
            done = await run_in_threadpool(
                door.release,
                held_id,
                None if back else chosen_folder(form.get("folder")),
                allowed=[p for _, p in folders],
                **kw,
            )
        except decisions.DecisionError as e:
            return RedirectResponse(f"/held/{held_id}?error={quote(str(e))}", status_code=303)
        drawn.cache_clear()
        if done.output is None:
            s.flash = (f"Released {held_id} ({done.decision}) for sign-off: post {done.approval} "
                       "waits for an approver; the held original is destroyed.")
        else:
            into = "the folder it was sent from" if back else next(
                (label for label, p in folders
                 if Path(p).resolve() == done.output.parent.resolve()), "the ready folder")
            s.flash = (
                f"Released {held_id} ({done.decision}) as {done.output.name} into {into}"
                + (f", approved as post {done.approval}" if done.approved else "")
                + "; the held original is destroyed."
            )
        return RedirectResponse("/", status_code=303)

    # -- images -------------------------------------------------------------------------------

    def draw(held_id: str, kind: str, door: Any) -> bytes:
        """The JPEG for one held image, drawn once and kept in memory (a 12 MP preview takes
        a second or two); only ever served after the session's door says it is still held and
        in the account's academy. The names drawn on it come from that door too."""
        rec = door.held_record(held_id)
        names = door.names()
        labels = tuple(sorted({(f["pupil"], names.get(f["pupil"], f["pupil"]))
                               for f in rec.get("faces", []) if f.get("pupil")}))
        # the faces confirmed since (safeguard.confirmation) change the preview: part of the key
        covered = tuple(sorted(decisions.previewed(rec)))
        return drawn(held_id, kind, rec.get("sha256") or "", labels, covered)

    @lru_cache(maxsize=64)
    def drawn(held_id: str, kind: str, sha256: str, labels: tuple, covered: tuple = ()) -> bytes:
        from safeguard.images import decode_image

        rec = decisions.pending_record(held, held_id)
        rgb = decode_image(held.original(held_id), max_pixels=config.max_pixels).rgb
        if kind == "preview":
            im = render.preview(
                rgb,
                decisions.face_boxes(rec),
                set(covered),
                config.style,
                config.mask_scale,
                text_boxes=decisions.text_boxes(rec),
            )
        else:
            side = render.THUMB_SIDE if kind == "thumb" else render.SCREEN_SIDE
            im = render.annotate(rgb, rec.get("faces", []), dict(labels), side)
        return render.jpeg(im)

    async def image(request: Request) -> Response:
        if reviewer_session(request) is None:
            return PlainTextResponse("sign in first", 401)
        held_id, kind = request.path_params["held_id"], request.path_params["kind"]
        if not valid_id(held_id) or kind not in IMAGE_KINDS:
            return PlainTextResponse("no such image", 404)
        try:
            data = await run_in_threadpool(draw, held_id, kind,
                                           door_of(reviewer_session(request)))
        except (decisions.DecisionError, HeldError, OSError):
            return PlainTextResponse("no such image", 404)
        except Exception:  # noqa: BLE001 - an undecodable original: say so, show nothing
            return PlainTextResponse("this image cannot be drawn", 500)
        return Response(data, media_type="image/jpeg")

    async def stylesheet(request: Request) -> Response:
        return Response((HERE / "templates" / "review.css").read_bytes(), media_type="text/css")

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)  # no icon; and no session, no redirect to sign in

    async def not_found(request: Request, exc: Exception) -> Response:
        if approver_session(request) is None:
            if request.url.path.startswith("/image"):
                return PlainTextResponse("sign in first", 401)
            if is_page_request(request):
                return to_login()
        return PlainTextResponse("not found", 404)

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", queue_page, methods=["GET"]),
        Route("/held/{held_id}", image_page, methods=["GET"]),
        Route("/held/{held_id}/{action}", decide, methods=["POST"]),
        Route("/image/{held_id}/{kind}.jpg", image, methods=["GET"]),
        Route("/static/review.css", stylesheet, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]
    routes += signoff.routes(home, door_of, approver_session, page, to_login)
    routes += audit_page.routes(door_of, reviewer_session, page, to_login)
    routes += takedowns_page.routes(config, door_of, reviewer_session, page, to_login)
    routes += clips.routes(held, config, door_of, reviewer_session, valid_id)
    routes += confirm.routes(door_of, reviewer_session, drawn.cache_clear)
    routes = [_guarded(r, session_of, start_page) for r in routes]
    hosts = allowed_hosts or ["127.0.0.1", "localhost", "[::1]"]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found})


READY_LABEL = "Ready to post"


def release_choices(config: Config, ready_dir: Path | None) -> list[tuple[str, str]]:
    """(label, path) of each folder the page may release into: the settings' release_folders,
    and the folder `review serve --out` names as "Ready to post" (when it is not one of them)."""
    out = list(config.release_choices())
    if ready_dir is not None and Path(ready_dir).resolve() not in \
            {Path(p).resolve() for _, p in out}:
        label = READY_LABEL if READY_LABEL not in {lbl for lbl, _ in out} else str(ready_dir)
        out.append((label, str(ready_dir)))
    return out


def _guarded(route: Route, session_of, start_page) -> Route:
    """`route` behind its case in safeguard.cases: a route without one answers nothing, and a
    signed-in account whose role the case does not allow is turned away before the page runs
    (to its own start page, or 401), whatever the page itself checks."""
    from safeguard.access import may
    from safeguard.cases import ROUTES

    method = next(m for m in sorted(route.methods or ()) if m != "HEAD")
    case = ROUTES.get((method, route.path))
    inner = route.endpoint

    async def endpoint(request: Request) -> Response:
        if case is None:
            return PlainTextResponse("not found", 404)
        if case.action is not None:
            s = session_of(request)
            if s is not None and s.reviewer is not None and not may(s.reviewer.role,
                                                                    case.action):
                if request.method == "GET" and not route.path.startswith("/image") and \
                        request.headers.get("sec-fetch-dest", "document") in ("document", ""):
                    return RedirectResponse(start_page(s), status_code=303)
                return PlainTextResponse("not allowed for this account", 401)
        return await inner(request)

    return Route(route.path, endpoint, methods=[method])

