"""Events from outside (Tocsin's ``POST /v1/events``, Appwrite's webhooks) and the
operators' view of recent events with their fan-out.

Accepting an event only records it (one transaction); the leader fans it out. A
request that is refused records nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scheduler.api import errors
from scheduler.api.app_response import json_response
from scheduler.api.auth import identify
from scheduler.api.context import Context, get_context
from scheduler.api.schemas import ERROR_RESPONSES
from scheduler.rules.errors import EventNameError
from scheduler.rules.eventnames import check_name, check_pattern, most_specific, user_of
from scheduler.rules.timerules import iso
from scheduler.store import events as store
from scheduler.store.db import db_now, transaction
from scheduler.store.projects import project_exists, webhook_key

router = APIRouter(tags=["events (Tocsin extensions)"], responses=ERROR_RESPONSES)

MAX_PAYLOAD = 1024 * 1024
MAX_EVENT_ID = 128
BAD_SIGNATURE = errors.ApiError(
    errors.UNAUTHORIZED_SCOPE,
    "Invalid webhook signature: X-Appwrite-Webhook-Signature must be the base64 HMAC-SHA1 "
    "of the webhook URL followed by the body, keyed with this project's webhook key "
    "(tocsin events webhook-key).")


def event_json(view: store.EventView) -> dict[str, Any]:
    e = view.event
    return {
        "$id": e.id,
        "$createdAt": iso(e.created_at),
        "event": e.name,
        "names": e.names,
        "source": e.source,
        "eventId": e.event_key,
        "userId": e.user_id,
        "depth": e.depth,
        "fannedOutAt": iso(e.fanned_out_at),
        "stopped": e.stopped,
        "executions": [{"functionId": f, "executionId": x, "status": s}
                       for f, x, s in view.executions],
    }


def _payload_text(payload: Any) -> str:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD:
        raise errors.invalid_param("payload", f"Value must be JSON of at most {MAX_PAYLOAD} "
                                              "bytes")
    return text


@router.post("/events", status_code=201)
def publish_event(request: Request, payload: dict[str, Any] = Body(...),
                  ctx: Context = Depends(get_context)) -> JSONResponse:
    """Record an event for the caller's project: 201, or 200 with the event first
    recorded under the same ``eventId`` (a repeat is a no-op)."""
    caller = identify(request, ctx)
    caller.require("events.write")
    try:
        name = check_name(payload.get("event"))
    except EventNameError as exc:
        raise errors.invalid_param("event", exc.message) from None
    body = _payload_text(payload.get("payload", {}))
    event_id = payload.get("eventId")
    if event_id is not None and (not isinstance(event_id, str) or not event_id
                                 or len(event_id) > MAX_EVENT_ID):
        raise errors.invalid_param("eventId", f"Value must be a string of 1 to {MAX_EVENT_ID} "
                                              "characters")
    with transaction(ctx.sessions) as session:
        cause = caller.cause  # a run's own key: the event carries the run
        emitted = store.emit(session, caller.project_id, name, body, source="api",
                             event_key=event_id, user_id=user_of(name),
                             origin_function_id=cause.function_id if cause else None,
                             depth=cause.depth if cause else 0)
        assert emitted is not None
        view = store.EventView(emitted.event, [])
        return json_response(event_json(view), 200 if emitted.duplicate else 201)


def _signed_urls(request: Request, ctx: Context) -> list[str]:
    """The URL the sender signed: as this request reached us, or as the operator's
    public URL names it (behind a proxy the two differ)."""
    urls = [str(request.url)]
    public = ctx.settings.public_url.rstrip("/")
    if public:
        tail = request.url.path.removeprefix("/v1")
        query = f"?{request.url.query}" if request.url.query else ""
        urls.append(f"{public}{tail}{query}")
    return urls


def _valid_signature(secret: str, urls: list[str], body: bytes, signature: str) -> bool:
    for url in urls:
        digest = hmac.new(secret.encode(), url.encode() + body, hashlib.sha1).digest()
        if hmac.compare_digest(base64.b64encode(digest).decode(), signature):
            return True
    return False


@router.post("/webhooks/appwrite/{projectId}", status_code=202)
async def appwrite_webhook(projectId: str, request: Request,
                           ctx: Context = Depends(get_context)) -> JSONResponse:
    """What an Appwrite server sends to a webhook URL, as an event of ``projectId``."""
    body = await request.body()
    return await run_in_threadpool(_accept_webhook, projectId, request, body, ctx)


STALE_WEBHOOK = "The webhook's document was last updated more than {days} days ago: " \
    "a delivery that old is refused as a replay."


def _stale(data: Any, now: datetime, days: int) -> bool:
    """The delivery's document is older than events are remembered (``days``), so a
    replay of it could no longer be recognised by its signature."""
    stamp = data.get("$updatedAt") or data.get("$createdAt") if isinstance(data, dict) else None
    if days <= 0 or not isinstance(stamp, str):
        return False
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (at if at.tzinfo else at.replace(tzinfo=UTC)) < now - timedelta(days=days)


def _accept_webhook(project_id: str, request: Request, body: bytes,
                    ctx: Context) -> JSONResponse:
    """Appwrite signs the URL and the body only. So: the signature is checked before
    anything about the project is told (an unknown project is the same 401); a
    delivery is recorded once per signature (``event_key``), so a captured one replayed,
    with the same or other event names, records nothing new; the user id header is
    passed on as ``x-appwrite-webhook-user-id``, never as a verified user."""
    with transaction(ctx.sessions) as session:
        secret = webhook_key(session, project_id) if project_exists(session, project_id) \
            else None
    signature = request.headers.get("x-appwrite-webhook-signature", "")
    if not secret or not signature or not _valid_signature(
            secret, _signed_urls(request, ctx), body, signature):
        raise BAD_SIGNATURE
    if len(body) > MAX_PAYLOAD:
        raise errors.invalid_param("payload", f"Value must be JSON of at most {MAX_PAYLOAD} "
                                              "bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise errors.ApiError(errors.ARGUMENT_INVALID, "Request body is not valid JSON.") from None
    listed = [n.strip() for n in request.headers.get("x-appwrite-webhook-events", "").split(",")
              if n.strip()]
    if not listed:
        raise errors.invalid_param("X-Appwrite-Webhook-Events",
                                   "Value must list the event's names")
    try:
        names = [check_pattern(n) for n in listed]
    except EventNameError as exc:
        raise errors.invalid_param("X-Appwrite-Webhook-Events", exc.message) from None
    name = most_specific(names)
    user_id = request.headers.get("x-appwrite-webhook-user-id", "")[:64] or user_of(name)
    delivery = "webhook:" + hashlib.sha256(signature.encode()).hexdigest()[:48]
    with transaction(ctx.sessions) as session:
        if _stale(data, db_now(session), ctx.settings.retention_days):
            raise errors.invalid_param("payload", STALE_WEBHOOK.format(
                days=ctx.settings.retention_days))
        emitted = store.emit(session, project_id, name, _payload_text(data),
                             source="webhook", names=names, user_id=user_id,
                             event_key=delivery)
        assert emitted is not None
        return json_response(event_json(store.EventView(emitted.event, [])),
                             200 if emitted.duplicate else 202)


@router.get("/scheduler/events")
def recent_events(request: Request, limit: int = Query(50, ge=1, le=1000),
                  ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """The project's recent events, newest first, with the executions each made."""
    caller = identify(request, ctx)
    caller.require("events.read")
    with transaction(ctx.sessions) as session:
        views = store.recent(session, caller.project_id, limit)
        return {"total": len(views), "events": [event_json(v) for v in views]}
