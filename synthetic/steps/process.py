"""A process start: DeviceProcessEvents (Defender for Endpoint) and, on Linux, auditd EXECVE lines in Syslog.

auditd writes one SYSCALL and one EXECVE record per execve(2), sharing a serial number, and
hex-encodes any argument holding a space, a quote or a non-printable byte; rules that look for
`--mirror` in SyslogMessage must see it exactly as a real audisp-syslog line carries it.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

from synthetic.context import StepContext
from synthetic.entities import TENANT_ID
from synthetic.steps.common import device, file_hashes, jitter, process_spec, report_id

_TABLES = ("DeviceProcessEvents", "Syslog")
_SHELL = {
    "linux": {"file_name": "bash", "folder_path": "/usr/bin/bash", "command_line": "-bash"},
    "macos": {"file_name": "zsh", "folder_path": "/bin/zsh", "command_line": "-zsh"},
    "windows": {
        "file_name": "powershell.exe",
        "folder_path": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "command_line": '"powershell.exe"',
    },
}


def audit_arg(arg: str) -> str:
    """auditd's encoding of one execve argument: quoted, or hex when it holds a space/quote/control byte."""
    raw = arg.encode()
    if any(b <= 0x20 or b >= 0x7F or b == 0x22 for b in raw):
        return raw.hex().upper()
    return f'"{arg}"'


def auditd_lines(when: datetime, serial: int, argv: list[str], pid: int, ppid: int, uid: int, exe: str) -> list[str]:
    """The SYSCALL and EXECVE records auditd writes for one execve."""
    stamp = f"{int(_epoch(when))}.{when.microsecond // 1000:03d}"
    head = f"msg=audit({stamp}:{serial}):"
    comm = argv[0].rsplit("/", 1)[-1][:15]
    syscall = (
        f"type=SYSCALL {head} arch=c000003e syscall=59 success=yes exit=0 a0=55d0c3a1e2f0 a1=55d0c3a1f1b0 "
        f"a2=55d0c3a20c40 a3=8 items=2 ppid={ppid} pid={pid} auid={uid} uid={uid} gid={uid} euid={uid} suid={uid} "
        f'fsuid={uid} egid={uid} sgid={uid} fsgid={uid} tty=pts0 ses=3 comm="{comm}" exe="{exe}" key="exec"'
    )
    args = " ".join(f"a{i}={audit_arg(a)}" for i, a in enumerate(argv))
    return [syscall, f"type=EXECVE {head} argc={len(argv)} {args}"]


def _epoch(when: datetime) -> float:
    """Seconds since the epoch of a naive-UTC (or aware) datetime."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def process(step: dict[str, Any], ctx: StepContext) -> None:
    """One process creation on the step's device."""
    when = ctx.at(step.get("at"))
    dev = device(step, ctx)
    proc = process_spec(
        {"command_line": step["command_line"], **{k: step[k] for k in ("file_name", "folder_path") if k in step}},
        ctx,
        dev.os,
    )
    parent = process_spec(step.get("parent") or _SHELL[dev.os], ctx, dev.os)
    tables = step.get("tables") or ([*_TABLES] if dev.os == "linux" else ["DeviceProcessEvents"])
    unknown = [t for t in tables if t not in _TABLES]
    if unknown:
        raise ValueError(f"process steps write {', '.join(_TABLES)}, not {', '.join(unknown)}")
    fake = ctx.fake
    pid, ppid = fake.random_int(2000, 60000), fake.random_int(1000, 1999)
    uid = 0 if dev.user == "root" else 1000
    parent_created = when - timedelta(minutes=fake.random_int(2, 90))
    if "DeviceProcessEvents" in tables:
        logon_id = fake.random_int(10**5, 10**7) if dev.os == "windows" else 0
        row = {
            "TenantId": TENANT_ID,
            "Timestamp": when,
            "TimeGenerated": when,
            "Type": "DeviceProcessEvents",
            "SourceSystem": "",
            "ActionType": "ProcessCreated",
            "DeviceId": dev.id,
            "DeviceName": dev.name,
            "MachineGroup": "",
            "AppGuardContainerId": "",
            "AdditionalFields": {},
            "ReportId": report_id(ctx),
            "AccountDomain": dev.domain if dev.os == "windows" else dev.name,
            "AccountName": dev.user,
            "AccountObjectId": "",
            "AccountSid": "",
            "AccountUpn": dev.upn,
            "LogonId": logon_id,
            "FileName": proc["file_name"],
            "FolderPath": proc["folder_path"],
            "ProcessCommandLine": proc["command_line"],
            "ProcessId": pid,
            "ProcessCreationTime": when,
            "ProcessIntegrityLevel": "Medium" if dev.os == "windows" else "",
            "ProcessTokenElevation": "Default" if dev.os == "windows" else "",
            **file_hashes(proc["folder_path"]),
            "InitiatingProcessAccountDomain": dev.domain if dev.os == "windows" else dev.name,
            "InitiatingProcessAccountName": dev.user,
            "InitiatingProcessAccountObjectId": "",
            "InitiatingProcessAccountSid": "",
            "InitiatingProcessAccountUpn": dev.upn,
            "InitiatingProcessCommandLine": parent["command_line"],
            "InitiatingProcessFileName": parent["file_name"],
            "InitiatingProcessFolderPath": parent["folder_path"],
            "InitiatingProcessId": ppid,
            "InitiatingProcessCreationTime": parent_created,
            "InitiatingProcessIntegrityLevel": "Medium" if dev.os == "windows" else "",
            "InitiatingProcessTokenElevation": "Default" if dev.os == "windows" else "",
            "InitiatingProcessLogonId": logon_id,
            "InitiatingProcessParentFileName": "sshd" if dev.os != "windows" else "explorer.exe",
            "InitiatingProcessParentId": fake.random_int(300, 999),
            "InitiatingProcessParentCreationTime": parent_created - timedelta(seconds=2),
        }
        hashes = file_hashes(parent["folder_path"])
        row.update({f"InitiatingProcess{k}": v for k, v in hashes.items()})
        ctx.emit("DeviceProcessEvents", row)
    if "Syslog" in tables:
        argv = shlex.split(proc["command_line"], posix=True)
        serial = fake.random_int(1000, 999999)
        audit_time = when + jitter(ctx, 0, 5)
        for i, line in enumerate(auditd_lines(audit_time, serial, argv, pid, ppid, uid, proc["folder_path"])):
            row = {
                "TenantId": TENANT_ID,
                "TimeGenerated": audit_time + timedelta(milliseconds=i),
                "EventTime": audit_time,
                "Computer": dev.name,
                "HostName": dev.name,
                "HostIP": dev.ip,
                "Facility": str(step.get("facility", "user")),
                "SeverityLevel": "info",
                "ProcessName": "audisp-syslog",
                "ProcessID": fake.random_int(600, 900),
                "SyslogMessage": line,
                "CollectorHostName": "",
                "SourceSystem": "Linux",
                "MG": "00000000-0000-0000-0000-000000000002",
                "ManagementGroupName": "",
                "Type": "Syslog",
            }
            ctx.emit("Syslog", row)
