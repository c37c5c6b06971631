"""A delivered (or junked, blocked, replaced) email: EmailEvents per recipient, EmailUrlInfo per URL.

One NetworkMessageId ties the message's URL rows to its per-recipient event rows, as
Defender for Office 365 records them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from synthetic.context import StepContext
from synthetic.entities import ORG_DOMAIN, TENANT_ID
from synthetic.enums import enum_violation
from synthetic.steps.values import StepFieldError, resolve, wrapper

DELIVERY_LOCATION = {
    "Delivered": "Inbox/Folder",
    "Junked": "Junk",
    "Blocked": "Quarantine",
    "Replaced": "Inbox/Folder",
}


def url_domain(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def email(step: dict[str, Any], ctx: StepContext) -> None:
    fake = ctx.fake
    when = ctx.at(step.get("at"))
    sender = ctx.fill(step.get("sender") or fake.email())
    sender_domain = sender.rsplit("@", 1)[-1].lower()
    mail_from = ctx.fill(step.get("mail_from") or sender)
    recipients = step.get("recipients", 1)
    if isinstance(recipients, int):
        recipients = [fake.org_user() for _ in range(recipients)]
    recipients = [ctx.fill(r) for r in recipients]
    urls = [ctx.fill(u) for u in step.get("urls", [])]
    raw_action = step.get("delivery_action", "Delivered")
    opted = wrapper(raw_action)
    action = ctx.fill(opted[1] if opted and opted[0] == "undocumented" else raw_action)
    if not isinstance(action, str):
        raise StepFieldError(["delivery_action"], f"delivery_action must be a string, not {action!r}")
    undocumented = {"DeliveryAction"} if opted and opted[0] == "undocumented" else set()
    problem = None if undocumented else enum_violation("EmailEvents", {"DeliveryAction": action})
    if problem:  # before any later step (a click) trips over the same typo less clearly
        raise StepFieldError(["delivery_action"], problem + "; write `{undocumented: ...}` to keep it on purpose")
    spacing = timedelta(seconds=float(step.get("spacing", 0)))  # exact times unless the template asks
    location = DELIVERY_LOCATION.get(action, "Inbox/Folder")
    network_message_id = fake.guid()
    internet_message_id = f"<{fake.bothify('????????????').upper()}@{sender_domain}>"
    subject = ctx.fill(step.get("subject") or fake.sentence(nb_words=6).rstrip("."))
    display_name = ctx.fill(step.get("sender_display_name") or fake.name())
    sender_ip = ctx.fill(step.get("sender_ip") or fake.public_ipv4())
    threat_types = ctx.fill(step.get("threat_types", ""))
    auth = step.get("authentication", {"SPF": "pass", "DKIM": "pass", "DMARC": "pass", "CompAuth": "pass"})
    ctx.identify(network_message_id)
    ctx.identify(internet_message_id)
    ctx.state.setdefault("emails", []).append(
        {
            "time": when,
            "network_message_id": network_message_id,
            "urls": urls,
            "recipients": recipients,
            "delivery_action": action,
        }
    )
    for url in urls:
        ctx.identify(url)

    base = {
        "TenantId": TENANT_ID,
        "SourceSystem": "",
        "NetworkMessageId": network_message_id,
        "ReportId": "",
    }
    for i, recipient in enumerate(recipients):
        row = dict(base)
        row.update(
            {
                "TimeGenerated": when + spacing * i,
                "Type": "EmailEvents",
                "ReportId": fake.guid(),
                "InternetMessageId": internet_message_id,
                "SenderFromAddress": sender,
                "SenderFromDomain": sender_domain,
                "SenderMailFromAddress": mail_from,
                "SenderMailFromDomain": mail_from.rsplit("@", 1)[-1].lower(),
                "SenderDisplayName": display_name,
                "SenderIPv4": sender_ip,
                "RecipientEmailAddress": recipient,
                "RecipientObjectId": fake.guid(),
                "Subject": subject,
                "EmailDirection": "Intra-org" if sender_domain == ORG_DOMAIN else "Inbound",
                "DeliveryAction": action,
                "DeliveryLocation": location,
                "LatestDeliveryAction": "",
                "LatestDeliveryLocation": location,
                "ThreatTypes": threat_types,
                "ThreatNames": ctx.fill(step.get("threat_names", "")),
                "DetectionMethods": json.dumps(step["detection_methods"]) if step.get("detection_methods") else "",
                "ConfidenceLevel": json.dumps(step["confidence_level"]) if step.get("confidence_level") else "",
                "AuthenticationDetails": json.dumps(auth),
                "EmailLanguage": "en",
                "UrlCount": len(urls),
                "AttachmentCount": 0,
                "BulkComplaintLevel": int(step.get("bulk_complaint_level", 0)),
                "EmailClusterId": fake.random_int(10**9, 10**10),
                "Connectors": "",
                "OrgLevelAction": "",
                "UserLevelAction": "",
                "AdditionalFields": {},
            }
        )
        opted = set(undocumented)
        schema = ctx.registry["EmailEvents"]
        for name, raw in step.get("event_columns", {}).items():
            column = schema.column(str(name))
            if column is None:
                raise StepFieldError(["event_columns", name], f"table EmailEvents has no column {name!r}")
            got = resolve(raw, column, fill=ctx.fill, when=when, path=["event_columns", name])
            row[column.name] = got.value
            if got.undocumented:
                opted.add(column.name)
        ctx.emit("EmailEvents", row, undocumented=opted, origin=["event_columns"])
    for j, url in enumerate(urls):
        row = dict(base)
        row.update(
            {
                "TimeGenerated": when + spacing * j,
                "Type": "EmailUrlInfo",
                "ReportId": fake.guid(),
                "Url": url,
                "UrlDomain": url_domain(url),
                "UrlLocation": step.get("url_location", "Body"),
            }
        )
        ctx.emit("EmailUrlInfo", row)
