#!/usr/bin/env bash
# Build atomic-harness/kusto-rest-test:local, a small image serving the Kusto REST API
# (duckdb-kql serve, database NetDefaultDB, port $KUSTO_PORT) for the docker-lifecycle
# tests. No registry is reachable for base images, so nothing is pulled: the rootfs is
# assembled from this machine's Python and duckdb-kql (docker/build_rootfs.py) and
# imported with `docker import`. Skips the build when an image of the same inputs exists.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAG="${TEST_IMAGE:-atomic-harness/kusto-rest-test:local}"
PY="${PYTHON:-$HERE/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"

say() { echo "build-test-image: $*" >&2; }

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    say "no Docker daemon answers (run scripts/start-dockerd.sh first)"
    exit 2
fi

# What the image is made of: the recipe, the interpreter and the engine versions.
INPUTS="$(cat "$HERE/docker/serve.py" "$HERE/docker/build_rootfs.py";
          "$PY" -c 'import sys, duckdb, duckdb_kql; print(sys.version, duckdb.__version__, duckdb_kql.__version__)')"
DIGEST="$(printf '%s' "$INPUTS" | sha256sum | cut -c1-16)"

if [ "$(docker image inspect "$TAG" --format '{{index .Config.Labels "atomic-harness.inputs"}}' 2>/dev/null || true)" = "$DIGEST" ]; then
    say "$TAG is up to date (inputs $DIGEST)"
    exit 0
fi

WORK="$(mktemp -d /tmp/kusto-rest-rootfs.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
say "assembling rootfs in $WORK"
"$PY" "$HERE/docker/build_rootfs.py" "$WORK/rootfs" "$HERE/docker/serve.py" >&2

OLD_ID="$(docker image inspect "$TAG" --format '{{.Id}}' 2>/dev/null || true)"
say "importing $TAG"
tar -C "$WORK/rootfs" -c . | docker import \
    --change 'ENV KUSTO_PORT=8080' \
    --change 'ENTRYPOINT ["/srv/python", "-u", "/srv/serve.py"]' \
    --change "LABEL atomic-harness.inputs=$DIGEST" \
    --change 'LABEL org.opencontainers.image.description="duckdb-kql Kusto REST server for atomic-harness tests"' \
    - "$TAG" >/dev/null

# Prove it serves before calling it built.
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
CID="$(docker run -d --rm --network host -e KUSTO_PORT="$PORT" "$TAG")"
ok=""
for _ in $(seq 1 50); do
    if "$PY" - "$PORT" <<'EOF' 2>/dev/null; then ok=1; break; fi
import json, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/rest/query",
                             json.dumps({"db": "NetDefaultDB", "csl": "print ready = 1"}).encode(),
                             {"Content-Type": "application/json"})
assert json.load(urllib.request.urlopen(req, timeout=2))["Tables"][0]["Rows"] == [[1]]
EOF
    sleep 0.2
done
LOGS="$(docker logs "$CID" 2>&1 | tail -n 5 || true)"
docker rm -f "$CID" >/dev/null 2>&1 || true
if [ -z "$ok" ]; then
    say "$TAG was built but does not answer a query: $LOGS"
    exit 3
fi
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$(docker image inspect "$TAG" --format '{{.Id}}')" ]; then
    docker rmi "$OLD_ID" >/dev/null 2>&1 || true  # the previous build, now untagged
fi
say "built $TAG (inputs $DIGEST, $(docker image inspect "$TAG" --format '{{.Size}}') bytes); it answers queries"
