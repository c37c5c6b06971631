#!/usr/bin/env bash
# Start a Docker daemon for the docker-lifecycle tests, the way these machines allow:
# root, no bridge, no iptables, vfs storage (no overlay inside the sandbox), host
# networking for containers. Idempotent: a daemon that already answers is left alone.
# Exit 0 when a daemon answers, non-zero with the reason when none can start.
set -u

SOCK="${DOCKER_SOCK:-/var/run/docker.sock}"
LOG="${DOCKERD_LOG:-/tmp/atomic-harness-dockerd.log}"
WAIT="${DOCKERD_WAIT:-60}"

say() { echo "start-dockerd: $*" >&2; }

if docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    say "daemon already running ($(docker -H "unix://$SOCK" version --format 'server {{.Server.Version}}'))"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        say "dockerd is not installed and installing it needs root (apt-get install docker.io)"
        exit 2
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "dockerd is not installed and there is no apt-get to install docker.io with"
        exit 2
    fi
    say "installing docker.io with apt-get"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; } >"$LOG.apt" 2>&1; then
        say "apt-get install docker.io failed (see $LOG.apt): $(tail -n 3 "$LOG.apt" | tr '\n' ' ')"
        exit 3
    fi
fi

if [ "$(id -u)" != 0 ]; then
    say "dockerd must run as root here and this shell is uid $(id -u)"
    exit 4
fi

# containerd is started by dockerd itself when none is running.
say "starting dockerd (log: $LOG)"
nohup dockerd --host "unix://$SOCK" --storage-driver=vfs --iptables=false --ip6tables=false \
    --bridge=none >"$LOG" 2>&1 &
PID=$!
echo "$PID" >/tmp/atomic-harness-dockerd.pid

for _ in $(seq 1 "$WAIT"); do
    if docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
        say "daemon running (pid $PID, $(docker -H "unix://$SOCK" version --format 'server {{.Server.Version}}'))"
        exit 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        say "dockerd exited during start-up: $(tail -n 5 "$LOG" | tr '\n' ' ')"
        exit 5
    fi
    sleep 1
done
say "dockerd did not answer on $SOCK within ${WAIT}s: $(tail -n 5 "$LOG" | tr '\n' ' ')"
exit 6
