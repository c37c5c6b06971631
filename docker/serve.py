"""Entry point of the local test image: `duckdb-kql serve` with writes, as a stand-in emulator.

It serves a database named NetDefaultDB (the Kusto emulator's default) on
127.0.0.1:$KUSTO_PORT (8080 by default). The server only ever binds loopback, so the
container runs on the host network; that is what this project's CI daemon offers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from duckdb_kql.server import build_server


def main() -> None:
    port = int(os.environ.get("KUSTO_PORT", "8080"))
    folder = Path(tempfile.mkdtemp(prefix="kusto-rest-"))
    server = build_server(str(folder / "NetDefaultDB.duckdb"), port=port, allow_write=True, quiet=True)
    print(f"serving database {server.database!r} at {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
