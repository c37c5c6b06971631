"""One web action seen from every vantage point: DNS lookup, endpoint connection, proxy request(s).

The lookup comes first (t), the connection it resolved follows (t + tens of ms), then the
proxy records each request (t + hundreds of ms, in order), all naming the same host, user
and IP. A visit to an App Service site created earlier in the same case must come after
its `Microsoft.Web/sites/write`; a visit before it is an error in the template.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from synthetic.context import StepContext
from synthetic.steps.common import device, jitter, process_spec, resolve, url_host, url_port, user_agent
from synthetic.steps.dns import DNS_TABLES, emit_dns
from synthetic.steps.network import emit_connection
from synthetic.steps.proxy import emit_proxy

WEB_TABLES = (*DNS_TABLES, "DeviceNetworkEvents", "CommonSecurityLog")


def _requests(step: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
    items = step.get("urls") or ([step["url"]] if "url" in step else [])
    if not items:
        raise ValueError("web_request needs url or urls")
    out: list[dict[str, Any]] = []
    for item in items:
        spec = {"url": item} if isinstance(item, str) else dict(item)
        spec = ctx.fill(spec)
        if out and "://" not in spec["url"]:  # a page requisite, relative to the request before it
            spec["url"] = urljoin(out[-1]["url"], spec["url"])
        spec.setdefault("method", ctx.fill(step.get("method", "GET")))
        spec.setdefault("status", int(step.get("status", 200)))
        url_host(spec["url"])  # an unparseable URL is a template error
        out.append(spec)
    return out


def web_request(step: dict[str, Any], ctx: StepContext) -> None:
    when = ctx.at(step.get("at"))
    dev = device(step, ctx)
    requests = _requests(step, ctx)
    tables = step.get("tables") or list(WEB_TABLES)
    unknown = [t for t in tables if t not in WEB_TABLES]
    if unknown:
        raise ValueError(f"web_request writes {', '.join(WEB_TABLES)}, not {', '.join(unknown)}")
    agent = ctx.fill(step.get("user_agent", "")) or user_agent(dev.os)
    proc = process_spec(step.get("process"), ctx, dev.os, requests[0]["url"])
    spacing = timedelta(seconds=float(step.get("spacing", 0.4)))
    seen_hosts: dict[str, str] = {}
    t = when
    for index, req in enumerate(requests):
        host = url_host(req["url"])
        if step.get("identify_urls"):
            ctx.identify(req["url"])
        if host not in seen_hosts:
            address = str(ctx.fill(step.get("resolve_to", ""))) or resolve(host)
            seen_hosts[host] = address
            if any(tb in tables for tb in DNS_TABLES):
                emit_dns(ctx, t, dev, host, [address], tables=[tb for tb in tables if tb in DNS_TABLES])
            t = t + jitter(ctx, 20, 120)
            if "DeviceNetworkEvents" in tables:
                emit_connection(ctx, t, dev, proc, address, url_port(req["url"]), host)
            t = t + jitter(ctx, 100, 300)
        if "CommonSecurityLog" in tables:
            emit_proxy(
                ctx,
                t,
                dev,
                req["url"],
                method=req["method"],
                status=req["status"],
                agent=agent,
                dest_ip=seen_hosts[host],
                log=step.get("proxy_log", "full"),
            )
        if index + 1 < len(requests):
            t = t + spacing
