"""Rows as Appwrite's JSON documents (Function, Execution, Variable) and Tocsin's
schedule document.

In the store, beside the tables they render: the API answers with these, and the
store's events carry them as payloads (an execution's ``update`` event is the Execution
as the API returns it), so both use one shape. No SQL here.
"""

from __future__ import annotations

from typing import Any

from scheduler.rules.httprules import without_credentials
from scheduler.rules.timerules import iso
from scheduler.store.models import Execution, Function, ProxyRule, Schedule, Variable

# Appwrite returns only these request headers on an execution.
REQUEST_HEADER_ALLOWLIST = ("content-type", "agent", "content-length", "host",
                            "x-appwrite-client-ip")


def execution_json(ex: Execution, response: dict[str, Any] | None = None,
                   reported: tuple[str, str] | None = None, private: bool = True
                   ) -> dict[str, Any]:
    """``reported``: (status, errors) when they differ from the row's (a run past its
    timeout is reported failed before the reaper writes so). ``private``: the reader
    may see ``logs`` and ``errors`` (as in Appwrite, API keys only, never app users)."""
    headers = ex.request_headers or {}
    status, errors = reported or (ex.status, ex.errors)
    logs = ex.logs if private else ""
    errors = errors if private else ""
    return {
        "$id": ex.id,
        "$createdAt": iso(ex.created_at),
        "$updatedAt": iso(ex.updated_at),
        "$permissions": [f'read("user:{ex.user_id}")'] if ex.user_id else [],
        "functionId": ex.function_id,
        "resourceId": ex.function_id,
        "resourceType": "functions",
        "deploymentId": "",
        "trigger": ex.trigger,
        "status": status,
        "requestMethod": ex.request_method,
        "requestPath": ex.request_path,
        "requestHeaders": [{"name": k, "value": v} for k, v in headers.items()
                           if k.lower() in REQUEST_HEADER_ALLOWLIST],
        "responseStatusCode": ex.response_status_code,
        "responseBody": (response or {}).get("body", ""),
        "responseHeaders": ex.response_headers or [],
        "logs": logs,
        "errors": errors,
        "duration": ex.duration,
        "scheduledAt": iso(ex.scheduled_at),
        # Tocsin's additions (extra fields are ignored by the SDKs).
        "scheduleId": ex.schedule_id,
        "scheduledFor": iso(ex.scheduled_for),
    }


def variable_json(v: Variable) -> dict[str, Any]:
    return {
        "$id": v.id,
        "$createdAt": iso(v.created_at),
        "$updatedAt": iso(v.updated_at),
        "key": v.key,
        "description": v.description,
        "value": "" if v.secret else v.value,  # a secret is written, never read back
        "secret": v.secret,
        "resourceType": "function",
        "resourceId": v.function_id,
    }


def function_json(fn: Function, variables: list[Variable] | None = None) -> dict[str, Any]:
    return {
        "$id": fn.id,
        "$createdAt": iso(fn.created_at),
        "$updatedAt": iso(fn.updated_at),
        "execute": fn.execute,
        "name": fn.name,
        "description": fn.description,
        "enabled": fn.enabled,
        "live": True,
        "logging": fn.logging,
        "runtime": fn.runtime,
        # Tocsin has no deployments: Appwrite's fields with their types, empty.
        "deploymentRetention": 0,
        "deploymentId": "",
        "deploymentCreatedAt": "",
        "latestDeploymentId": "",
        "latestDeploymentCreatedAt": "",
        "latestDeploymentStatus": "",
        "scopes": fn.scopes,
        "vars": [variable_json(v) for v in variables or []],
        "events": fn.events,
        "schedule": fn.schedule,
        "timeout": fn.timeout,
        "entrypoint": fn.entrypoint,
        "commands": fn.commands,
        "version": "v5",
        "url": without_credentials(fn.url),  # never echo credentials
        "timezone": fn.timezone,
        "missedPolicy": fn.missed_policy,
        "misfireGrace": fn.misfire_grace,
        "catchupWindow": fn.catchup_window,
        "catchupCap": fn.catchup_cap,
        "overlap": fn.overlap,
        "jitter": fn.jitter,
        "interval": fn.interval,
        "installationId": "",
        "providerRepositoryId": "",
        "providerBranch": "",
        "providerRootDirectory": "",
        "providerSilentMode": False,
        "providerBranches": [],
        "providerPaths": [],
        "buildSpecification": fn.runtime_specification,
        "runtimeSpecification": fn.runtime_specification,
        "specification": fn.runtime_specification,
        "emailEnabled": False,
    }


def schedule_json(s: Schedule) -> dict[str, Any]:
    return {
        "$id": s.id,
        "functionId": s.function_id,
        "key": s.key,
        "schedule": s.cron,
        "timezone": s.timezone,
        "nextFireAt": iso(s.next_fire_at),
        "lastFireAt": iso(s.last_fire_at),
        "paused": s.paused,
        "pauseNote": s.pause_note,
        "disabled": s.disabled,
        "missedPolicy": s.missed_policy,
        "misfireGrace": s.misfire_grace,
        "catchupWindow": s.catchup_window,
        "catchupCap": s.catchup_cap,
        "overlap": s.overlap,
        "jitter": s.jitter,
        "payload": s.payload,
        "skipped": {"missed": s.skipped_missed, "paused": s.skipped_paused,
                    "disabled": s.skipped_disabled, "overlap": s.skipped_overlap},
        "lastSkipped": {"missed": iso(s.last_missed_at), "paused": iso(s.last_paused_at),
                        "disabled": iso(s.last_disabled_at),
                        "overlap": iso(s.last_overlap_at)},
        "lastSkippedAt": iso(s.last_skipped_at),
        "lastSkipReason": s.last_skip_reason,
    }


def rule_json(rule: ProxyRule) -> dict[str, Any]:
    """Appwrite's ProxyRule; Tocsin's rules are function rules, verified at once."""
    return {
        "$id": rule.id,
        "$createdAt": iso(rule.created_at),
        "$updatedAt": iso(rule.updated_at),
        "domain": rule.domain,
        "type": "deployment",
        "trigger": "manual",
        "redirectUrl": "",
        "redirectStatusCode": 0,
        "deploymentId": "",
        "deploymentResourceType": "function",
        "deploymentResourceId": rule.function_id,
        "deploymentVcsProviderBranch": "",
        "status": "verified",
        "logs": "",
        "renewAt": "",
        "protocol": "http",
    }
