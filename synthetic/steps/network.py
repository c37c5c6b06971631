"""An outbound connection as Defender for Endpoint records it (DeviceNetworkEvents).

RemoteUrl holds the host name the process connected to, the way MDE fills it for browser
and tool connections; the initiating process is the one that made the request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from synthetic.context import StepContext
from synthetic.entities import TENANT_ID
from synthetic.steps.common import Device, device, file_hashes, ip_type, process_spec, report_id, resolve


def emit_connection(
    ctx: StepContext,
    when: datetime,
    dev: Device,
    proc: dict[str, str],
    remote_ip: str,
    remote_port: int,
    remote_url: str,
    *,
    action: str = "ConnectionSuccess",
    protocol: str = "Tcp",
) -> None:
    fake = ctx.fake
    created = when - timedelta(seconds=fake.random_int(1, 30))
    row = {
        "TenantId": TENANT_ID,
        "Timestamp": when,
        "TimeGenerated": when,
        "Type": "DeviceNetworkEvents",
        "SourceSystem": "",
        "ActionType": action,
        "DeviceId": dev.id,
        "DeviceName": dev.name,
        "MachineGroup": "",
        "AppGuardContainerId": "",
        "AdditionalFields": {},
        "ReportId": report_id(ctx),
        "LocalIP": dev.ip,
        "LocalIPType": ip_type(dev.ip),
        "LocalPort": fake.random_int(32768, 60999),
        "RemoteIP": remote_ip,
        "RemoteIPType": ip_type(remote_ip),
        "RemotePort": remote_port,
        "RemoteUrl": remote_url,
        "Protocol": protocol,
        "InitiatingProcessAccountDomain": dev.domain if dev.os == "windows" else dev.name,
        "InitiatingProcessAccountName": dev.user,
        "InitiatingProcessAccountObjectId": "",
        "InitiatingProcessAccountSid": "",
        "InitiatingProcessAccountUpn": dev.upn,
        "InitiatingProcessCommandLine": proc["command_line"],
        "InitiatingProcessFileName": proc["file_name"],
        "InitiatingProcessFolderPath": proc["folder_path"],
        "InitiatingProcessId": fake.random_int(2000, 60000),
        "InitiatingProcessCreationTime": created,
        "InitiatingProcessIntegrityLevel": "Medium" if dev.os == "windows" else "",
        "InitiatingProcessTokenElevation": "Default" if dev.os == "windows" else "",
        "InitiatingProcessParentFileName": "explorer.exe" if dev.os == "windows" else "bash",
        "InitiatingProcessParentId": fake.random_int(300, 1999),
        "InitiatingProcessParentCreationTime": created - timedelta(minutes=5),
    }
    row.update({f"InitiatingProcess{k}": v for k, v in file_hashes(proc["folder_path"]).items()})
    ctx.emit("DeviceNetworkEvents", row)


def network_connection(step: dict[str, Any], ctx: StepContext) -> None:
    """A connection on its own (no DNS lookup or proxy record), e.g. to a literal IP."""
    when = ctx.at(step.get("at"))
    dev = device(step, ctx)
    remote_url = str(ctx.fill(step.get("remote_url", "")))
    remote_ip = str(ctx.fill(step.get("remote_ip") or (resolve(remote_url) if remote_url else "")))
    if not remote_ip:
        raise ValueError("network_connection needs remote_ip or remote_url")
    proc = process_spec(step.get("process"), ctx, dev.os, remote_url)
    emit_connection(
        ctx,
        when,
        dev,
        proc,
        remote_ip,
        int(step.get("remote_port", 443)),
        remote_url,
        action=step.get("action_type", "ConnectionSuccess"),
        protocol=step.get("protocol", "Tcp"),
    )
