"""A Safe Links click on a delivered email's URL (UrlClickEvents).

The click names the NetworkMessageId of the email that carried the URL to that recipient,
and must come after its delivery: clicking a link that was never delivered, or before it
was, is a template error rather than a row.
"""

from __future__ import annotations

import json
from typing import Any

from synthetic.context import StepContext
from synthetic.entities import TENANT_ID


def url_click(step: dict[str, Any], ctx: StepContext) -> None:
    when = ctx.at(step.get("at"))
    url = str(ctx.fill(step["url"]))
    upn = str(ctx.fill(step.get("upn") or step.get("recipient") or ""))
    emails = [e for e in ctx.state.get("emails", []) if url in e["urls"] and (not upn or upn in e["recipients"])]
    if not emails:
        raise ValueError(f"url_click on {url!r}: no earlier email step delivered that URL to {upn or 'anyone'}")
    email = emails[-1]
    if when <= email["time"]:
        raise ValueError(
            f"url_click on {url!r} at {when:%H:%M:%S} is not after the email's delivery ({email['time']:%H:%M:%S})"
        )
    if email["delivery_action"] not in ("Delivered", "Junked", "Replaced"):
        raise ValueError(f"url_click on {url!r}: the email was {email['delivery_action']}, never in a mailbox")
    upn = upn or email["recipients"][0]
    chain = [ctx.fill(u) for u in step.get("url_chain", [])] or [url]
    action = step.get("action_type", "ClickAllowed")
    ctx.identify(url)
    ctx.emit(
        "UrlClickEvents",
        {
            "TenantId": TENANT_ID,
            "TimeGenerated": when,
            "Type": "UrlClickEvents",
            "SourceSystem": "",
            "ReportId": ctx.fake.guid(),
            "NetworkMessageId": email["network_message_id"],
            "Url": url,
            "UrlChain": json.dumps(chain),
            "AccountUpn": upn,
            "IPAddress": str(
                ctx.fill(step.get("ip_address") or ctx.entities.get("public_ip") or ctx.fake.public_ipv4())
            ),
            "ActionType": action,
            "IsClickedThrough": bool(step.get("clicked_through", action == "ClickAllowed")),
            "Workload": step.get("workload", "Email"),
            "ThreatTypes": ctx.fill(step.get("threat_types", "")),
            "DetectionMethods": "",
        },
    )
