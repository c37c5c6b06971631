"""Assemble a minimal root filesystem holding this Python and duckdb-kql, for `docker import`.

No registry is reachable for base images here, so the image is built from the host's
own interpreter: its prefix (same absolute path, so no relinking), the site-packages
the server actually imports (found by running it), and the shared libraries `ldd`
reports for every binary copied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages"}
#: Imported by the build's own environment (editable installs, setuptools), not by the server.
SKIP_SITE = ("__editable__", "_distutils_hack", "atomic_harness", "harness", "synthetic")


def exercised_packages() -> set[Path]:
    """Top-level site-packages entries the server imports while serving a write and a query."""
    import threading
    import urllib.request

    from duckdb_kql.server import build_server

    server = build_server(port=0, allow_write=True, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for route, csl in (
        (
            "/v1/rest/mgmt",
            ".set-or-replace T <| datatable(a:string, t:datetime, d:dynamic)"
            "['https://a/b', datetime(2024-01-01), dynamic({})]",
        ),
        (
            "/v2/rest/query",
            "set query_now = datetime(2024-01-02); T | where t > ago(2d) | extend h = parse_url(a).Host",
        ),
    ):
        body = json.dumps({"db": "memory", "csl": csl}).encode()
        req = urllib.request.Request(server.url + route, body, {"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
    server.shutdown()
    server.server_close()
    roots = {Path(p).resolve() for p in sys.path if p.endswith("site-packages")}
    out: set[Path] = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        for root in roots:
            if root in path.parents:
                top = path.relative_to(root).parts[0]
                if not top.startswith(SKIP_SITE):
                    out.add(root / top)
    for root in roots:  # metadata, so importlib.metadata.version() works inside
        for name in ("duckdb", "duckdb_kql", "antlr4_python3_runtime"):
            out.update(root.glob(f"{name}-*.dist-info"))
    return out


def libraries(binaries: list[Path]) -> set[Path]:
    libs: set[Path] = set()
    for binary in binaries:
        result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                libs.add(Path(parts[2]))
            elif parts and parts[0].startswith("/"):
                libs.add(Path(parts[0]))
    return libs


def copy(src: Path, root: Path) -> None:
    dest = root / str(src).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(
            src, dest, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tests", "__pycache__")
        )
    else:
        shutil.copy2(src, dest, follow_symlinks=True)


def main(root: Path, serve_py: Path) -> None:
    prefix = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    python = Path(os.path.realpath(sys._base_executable))  # type: ignore[attr-defined]
    root.mkdir(parents=True, exist_ok=True)
    copy(python, root)
    for lib in prefix.joinpath("lib").glob("libpython*.so*"):
        if lib.is_symlink():  # keep links as links: a second 23 MB copy is what vfs would pay for
            dest = root / str(lib).lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.is_symlink():
                dest.symlink_to(os.readlink(lib))
        else:
            copy(lib, root)
    for entry in stdlib.iterdir():
        if entry.name not in SKIP_STDLIB and not entry.name.startswith("config-"):
            copy(entry, root)
    for tk in root.rglob("_tkinter*.so"):
        tk.unlink()
    site = root / str(stdlib).lstrip("/") / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    for package in exercised_packages():
        dest = site / package.name
        if package.is_dir():
            shutil.copytree(package, dest, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tests"))
        else:
            shutil.copy2(package, dest)
    binaries = [python, *root.rglob("*.so"), *root.rglob("*.so.*")]
    for lib in libraries(binaries):
        copy(lib, root)
    loader = Path("/lib64/ld-linux-x86-64.so.2")
    if loader.exists():
        copy(Path(os.path.realpath(loader)), root)
        (root / "lib64").mkdir(exist_ok=True)
        link = root / "lib64" / loader.name
        if not link.exists():
            link.symlink_to(os.path.realpath(loader))
    (root / "tmp").mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "srv").mkdir(exist_ok=True)
    shutil.copy2(serve_py, root / "srv" / "serve.py")
    (root / "srv" / "python").symlink_to(python)
    print(f"rootfs at {root}: python {python}, {len(list(root.rglob('*')))} entries")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
