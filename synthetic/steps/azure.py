"""Azure Resource Manager operations as the Activity log records them (AzureActivity).

Each write is two events sharing a CorrelationId, as ARM logs them: Start, then Success
(or Failure; some resource providers write "Succeeded"). An operation is written as the template
spells it: the Activity log records many in upper case (MICROSOFT.WEB/SITES/WRITE). A
`Microsoft.Web/sites/write` that succeeds registers the site's `<name>.azurewebsites.net` host, so a later
visit can be checked to come after it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from harness.timespan import parse_timespan
from synthetic.context import StepContext
from synthetic.entities import TENANT_ID
from synthetic.steps.values import StepFieldError

# operation -> (OperationName display text, HTTP method of the ARM request)
OPERATIONS: dict[str, tuple[str, str]] = {
    "Microsoft.Resources/subscriptions/resourceGroups/write": ("Update resource group", "PUT"),
    "Microsoft.Web/serverfarms/write": ("Create or Update App Service Plan", "PUT"),
    "Microsoft.Web/sites/write": ("Create or Update Web App", "PUT"),
    "Microsoft.Web/sites/config/write": ("Update Web App Configuration", "PUT"),
    "Microsoft.Web/sites/config/list/Action": ("List Web App Security Sensitive Settings", "POST"),
    "Microsoft.Web/sites/extensions/write": ("Create or Update Web App Extension", "PUT"),
    "Microsoft.Web/sites/publishxml/Action": ("Get publishing profile", "POST"),
    "Microsoft.Web/sites/restart/Action": ("Restart Web App", "POST"),
    "Microsoft.Web/sites/delete": ("Delete Web App", "DELETE"),
    "Microsoft.Resources/subscriptions/resourceGroups/delete": ("Delete resource group", "DELETE"),
}


#: The final ActivityStatusValue of an operation: Success, Failure, or Succeeded (as some providers write it).
STATUSES = ("Success", "Failure", "Succeeded")
_KNOWN = {op.lower(): op for op in OPERATIONS}


def resource_id(subscription: str, group: str, operation: str, name: str, plan: str = "") -> str:
    """The ARM id of the resource an operation acts on."""
    base = f"/subscriptions/{subscription}/resourceGroups/{group}"
    if operation.startswith("Microsoft.Resources/subscriptions/resourceGroups/"):
        return base
    if operation.startswith("Microsoft.Web/serverfarms/"):
        return f"{base}/providers/Microsoft.Web/serverfarms/{plan or name + '-plan'}"
    parts = operation.split("/")
    rid = f"{base}/providers/Microsoft.Web/sites/{name}"
    if len(parts) > 3 and parts[2] in ("config", "extensions"):
        rid += f"/{parts[2]}/{'web' if parts[2] == 'config' else 'onedeploy'}"
    return rid


def _duration(step: dict[str, Any]) -> timedelta | None:
    """`duration`: a fixed time from an operation's Start to its final status (default: 3-40 s, seeded), for a
    case whose creation must complete at an exact instant whatever the seed."""
    raw = step.get("duration")
    if raw in (None, ""):
        return None
    try:
        value = parse_timespan(str(raw))
    except ValueError:
        raise StepFieldError(["duration"], f"duration must be a duration like 14s or 2m, not {raw!r}") from None
    if value <= timedelta(0):
        raise StepFieldError(["duration"], f"duration must be positive, not {raw!r}")
    return value


def azure_activity(step: dict[str, Any], ctx: StepContext) -> None:
    when = ctx.at(step.get("at"))
    fake = ctx.fake
    caller = str(ctx.param(step, "caller"))
    caller_ip = str(ctx.param(step, "caller_ip"))
    subscription = str(ctx.param(step, "subscription_id"))
    group = str(ctx.param(step, "resource_group"))
    name = str(ctx.param(step, "resource_name"))
    plan = str(ctx.fill(step.get("plan", "")))
    status = step.get("status", "Success")
    duration = _duration(step)
    if status not in STATUSES:
        raise ValueError(f"azure_activity status must be one of {', '.join(STATUSES)}, not {status!r}")
    ctx.identify(caller)
    ctx.identify(caller_ip)
    t = when
    for op in step.get("operations", []):
        op = str(ctx.fill(op))
        known = _KNOWN.get(op.lower())
        if known is None:
            raise ValueError(f"unknown ARM operation {op!r} (known: {', '.join(sorted(OPERATIONS))})")
        display, method = OPERATIONS[known]
        rid = resource_id(subscription, group, known, name, plan)
        correlation = fake.guid()
        client_request = fake.guid()
        ctx.identify(correlation)
        ctx.identify(rid)
        provider = known.split("/", 1)[0]
        resource = rid.rsplit("/", 1)[-1]
        latency = timedelta(seconds=fake.random_int(3, 40))  # drawn even when fixed: the case's other values stay
        phases = [
            ("Start", "Started", t),
            (status, "Failed" if status == "Failure" else "Succeeded", t + (duration or latency)),
        ]
        for value, legacy, at in phases:
            event_id = fake.guid()
            ctx.emit(
                "AzureActivity",
                {
                    "TenantId": TENANT_ID,
                    "TimeGenerated": at,
                    "EventSubmissionTimestamp": at + timedelta(seconds=fake.random_int(1, 20)),
                    "Type": "AzureActivity",
                    "SourceSystem": "Azure",
                    "OperationName": display,
                    "OperationNameValue": op,
                    "Level": "Informational" if value != "Failure" else "Error",
                    "ActivityStatus": legacy,
                    "ActivityStatusValue": value,
                    "ResourceGroup": group,
                    "SubscriptionId": subscription,
                    "CorrelationId": correlation,
                    "Caller": caller,
                    "CallerIpAddress": caller_ip,
                    "Category": "Administrative",
                    "CategoryValue": "Administrative",
                    "HTTPRequest": json.dumps(
                        {"clientRequestId": client_request, "clientIpAddress": caller_ip, "method": method}
                    ),
                    "Properties": json.dumps(
                        {
                            "eventCategory": "Administrative",
                            "entity": rid,
                            "message": op,
                            "hierarchy": f"{TENANT_ID}/{subscription}",
                        }
                    ),
                    "Properties_d": json.dumps({"eventCategory": "Administrative", "entity": rid, "message": op}),
                    "Authorization": json.dumps({"action": op, "scope": rid}),
                    "Authorization_d": json.dumps({"action": op, "scope": rid}),
                    "Claims": json.dumps(
                        {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": caller, "ipaddr": caller_ip}
                    ),
                    "Claims_d": json.dumps({"ipaddr": caller_ip}),
                    "ResourceId": rid,
                    "_ResourceId": rid.lower(),
                    "OperationId": fake.guid(),
                    "EventDataId": event_id,
                    "ResourceProvider": provider,
                    "ResourceProviderValue": provider,
                    "Resource": resource,
                    "Hierarchy": f"{TENANT_ID}/{subscription}",
                    "log_s": "",
                },
            )
        if known == "Microsoft.Web/sites/write" and status != "Failure":
            ctx.state.setdefault("azure_sites", {})[f"{name}.azurewebsites.net".lower()] = phases[-1][2]
        t = phases[-1][2] + timedelta(seconds=fake.random_int(5, 60))


_HOST_COLUMNS = {
    "DnsEvents": "Name",
    "ASimDnsActivityLogs": "DnsQuery",
    "DeviceNetworkEvents": "RemoteUrl",
    "CommonSecurityLog": "DestinationHostName",
    "UrlClickEvents": "Url",
}


def check_sites_visited_after_creation(ctx: StepContext) -> None:
    """No row of the case reaches an App Service site before the case's `Microsoft.Web/sites/write` succeeded."""
    sites: dict[str, Any] = ctx.state.get("azure_sites", {})
    for host, created in sites.items():
        for table, column in _HOST_COLUMNS.items():
            for row in ctx.out.rows.get(table, []):
                value = str(row.get(column, "")).lower()
                if (value == host or f"//{host}/" in value) and row["TimeGenerated"] <= created:
                    raise ValueError(
                        f"{table} row at {row['TimeGenerated']:%H:%M:%S} reaches {host} before its "
                        f"App Service was created ({created:%H:%M:%S})"
                    )
