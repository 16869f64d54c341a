"""/v1/proxy/rules: Appwrite's Proxy API for the one kind Tocsin serves, function
rules. TLS and DNS are the operator's reverse proxy's: a rule is ``verified`` as soon
as it exists (Tocsin answers for the domain once requests reach it)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from scheduler.api import errors, listqueries
from scheduler.api.auth import Caller, identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import bool_param, load_function
from scheduler.api.schemas import ERROR_RESPONSES
from scheduler.store import domain_rules as store
from scheduler.store.db import transaction
from scheduler.store.documents import rule_json
from scheduler.store.lists import list_rows
from scheduler.store.models import ProxyRule

router = APIRouter(prefix="/proxy", tags=["proxy"], responses=ERROR_RESPONSES)

FILTERABLE: dict[str, type] = {"domain": str, "deploymentResourceId": str, "$id": str}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
ONLY_FUNCTIONS = errors.ApiError(
    errors.ROUTE_NOT_FOUND,
    "Tocsin serves function rules only: use POST /v1/proxy/rules/function (API, site, "
    "redirect and SMTP rules are Appwrite's).")




def domain(value: Any) -> str:
    """A host name (no scheme, port or path), lower-cased, as Appwrite's validator."""
    text = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    labels = text.split(".")
    if not (3 <= len(text) <= 253 and len(labels) >= 2 and all(map(_LABEL.match, labels))):
        raise errors.invalid_param("domain", "Value must be a valid domain name, e.g. "
                                             "hooks.example.com (no scheme, port or path)")
    return text


def reserved(name: str, ctx: Context) -> None:
    """A rule cannot take the API's own host (it would capture every project's API
    calls: configured, or learned from key-bearing requests, this one included:
    ``api.hosts``) nor a name under the generated functions domain."""
    under = ctx.settings.functions_domain.lower().strip(".")
    if ctx.hosts.is_api(name) or (under and (name == under or name.endswith("." + under))):
        raise errors.invalid_param("domain", f"{name} is reserved: it is the API's own host "
                                             "or under TOCSIN_FUNCTIONS_DOMAIN")


def _caller(request: Request, ctx: Context, scope: str) -> Caller:
    caller = identify(request, ctx)
    caller.require(scope)
    return caller


@router.post("/rules/function", status_code=201)
def create_function_rule(request: Request, payload: dict[str, Any] = Body(...),
                         ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "rules.write")
    name = domain(payload.get("domain"))
    reserved(name, ctx)
    function_id = payload.get("functionId")
    if not isinstance(function_id, str) or not function_id:
        raise errors.invalid_param("functionId", "Param is required")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, function_id)
        return rule_json(store.create(session, caller.project_id, fn.id, name))


@router.post("/rules/{kind}")
def other_rules(kind: str) -> None:
    raise ONLY_FUNCTIONS


@router.get("/rules")
def list_rules(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "rules.read")
    query = listqueries.parse(listqueries.collect(request.query_params.multi_items()), FILTERABLE,
                         store.COLUMNS)
    where = store.listing_filter(caller.project_id, request.query_params.get("search", ""))
    with transaction(ctx.sessions) as session:
        rows, total = list_rows(session, ProxyRule, where, store.COLUMNS, query,
                                bool_param(request, "total", True))
    return {"total": total, "rules": [rule_json(r) for r in rows]}


@router.get("/rules/{ruleId}")
def get_rule(ruleId: str, request: Request,
             ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "rules.read")
    with transaction(ctx.sessions) as session:
        return rule_json(store.get(session, caller.project_id, ruleId))


@router.patch("/rules/{ruleId}/status")
def update_rule_status(ruleId: str, request: Request,
                       ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Appwrite re-checks DNS here; Tocsin's rules are always ``verified``."""
    caller = _caller(request, ctx, "rules.write")
    with transaction(ctx.sessions) as session:
        return rule_json(store.get(session, caller.project_id, ruleId))


@router.delete("/rules/{ruleId}", status_code=204, response_class=Response)
def delete_rule(ruleId: str, request: Request,
                ctx: Context = Depends(get_context)) -> Response:
    caller = _caller(request, ctx, "rules.write")
    with transaction(ctx.sessions) as session:
        store.delete(session, caller.project_id, ruleId)
    return Response(status_code=204, media_type="text/plain")
