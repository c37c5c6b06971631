"""A web request through the corporate proxy: a CommonSecurityLog row shaped like Zscaler NSS web logs.

Field use follows the real-format Zscaler sample (tests/data/samples/ZScaler.json): RequestURL is
the full URL, DestinationDnsDomain the host, SourceUserName the user's UPN, outcome in
AdditionalExtensions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from synthetic.context import StepContext
from synthetic.entities import TENANT_ID
from synthetic.steps.common import DEFAULT_PROXY, Device, device, resolve, url_host, url_port, user_agent


def emit_proxy(
    ctx: StepContext,
    when: datetime,
    dev: Device,
    url: str,
    *,
    method: str = "GET",
    status: int = 200,
    agent: str = "",
    dest_ip: str = "",
    action: str = "Allowed",
    category: str = "Internet Services",
    proxy: dict[str, str] | None = None,
    log: str = "full",
) -> None:
    """One proxy record. *log* is what the record names (PROXY_LOGS): `full` the URL and the host, `url` the URL
    only (a CEF source that fills `request` but no `dhost`), `host` the host only (an HTTPS tunnel the proxy does
    not inspect: a CONNECT to the host, no URL)."""
    if log not in PROXY_LOGS:
        raise ValueError(f"proxy_log must be one of {', '.join(PROXY_LOGS)}, not {log!r}")
    proxy = proxy or DEFAULT_PROXY
    host = url_host(url)
    fake = ctx.fake
    sent = fake.random_int(300, 2500) if method == "GET" else fake.random_int(900, 60000)
    received = fake.random_int(400, 90000)
    ctx.emit(
        "CommonSecurityLog",
        {
            "TenantId": TENANT_ID,
            "TimeGenerated": when,
            "Type": "CommonSecurityLog",
            "SourceSystem": "",
            "DeviceVendor": "Zscaler",
            "DeviceProduct": "NSSWeblog",
            "DeviceVersion": "5.7",
            "DeviceEventClassID": action,
            "Activity": action,
            "DeviceAction": action,
            "SimplifiedDeviceAction": action,
            "LogSeverity": "3",
            "Computer": proxy["name"],
            "DeviceAddress": proxy["ip"],
            "CommunicationDirection": "1",
            "SourceIP": dev.ip,
            "SourceHostName": dev.name,
            "SourceUserName": dev.upn or dev.user,
            "DestinationIP": dest_ip or resolve(host),
            "DestinationPort": url_port(url),
            "DestinationHostName": "" if log == "url" else host,
            "DestinationDnsDomain": "" if log == "url" else host,
            "DestinationServiceName": "General Browsing",
            "ApplicationProtocol": "HTTPS" if url.startswith("https:") else "HTTP",
            "RequestURL": "" if log == "host" else url,
            "RequestMethod": "CONNECT" if log == "host" else method,
            "RequestClientApplication": agent or user_agent(dev.os),
            "FileType": "HTML" if method == "GET" else "None",
            "SentBytes": sent,
            "ReceivedBytes": received,
            "EventOutcome": str(status),
            "AdditionalExtensions": f"reason={action};outcome={status};cat={category};rulelabel=None;ruletype=None;"
            "urlclass=Business Use;devicemodel=Virtual Machine",
        },
    )


#: What a proxy record names: the URL and the host, the URL only, or the host only (emit_proxy).
PROXY_LOGS = ("full", "url", "host")


def proxy_request(step: dict[str, Any], ctx: StepContext) -> None:
    """A proxy record on its own (no DNS lookup or endpoint connection)."""
    when = ctx.at(step.get("at"))
    dev = device(step, ctx)
    url = str(ctx.fill(step["url"]))
    emit_proxy(
        ctx,
        when,
        dev,
        url,
        method=step.get("method", "GET"),
        status=int(step.get("status", 200)),
        agent=ctx.fill(step.get("user_agent", "")),
        action=step.get("action", "Allowed"),
        log=step.get("proxy_log", "full"),
    )
