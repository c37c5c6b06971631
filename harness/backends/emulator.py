"""The Kusto emulator (kustainer) in Docker, started and always removed by us.

Azure Data Explorer's emulator is the closest thing to the real engine that runs
offline, so `--backend emulator` runs the detections there. `EmulatorManager` owns
the container's lifecycle through the docker SDK: it reuses one already running,
otherwise pulls the image when missing (showing progress), runs it with
ACCEPT_EULA=Y published on 127.0.0.1 only (or on the host network when the daemon
has no bridge, as in this project's CI), waits until it answers a query, and removes
what it started on exit, Ctrl-C, SIGTERM or error. `EmulatorBackend` is the Kusto
REST backend pointed at it.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

import requests

from harness.backends.kusto import KustoBackend
from harness.errors import EnvironmentFailure, UsageError
from harness.workspace.tables import SchemaRegistry

EMULATOR_IMAGE = "mcr.microsoft.com/azuredataexplorer/kustainer-linux:latest"
EMULATOR_DATABASE = "NetDefaultDB"
LABEL = "atomic-harness.emulator"

#: Containers this process started and has not removed yet: the atexit backstop.
_LIVE: dict[str, Any] = {}
_LIVE_LOCK = threading.Lock()


def _remove_leftovers() -> None:
    with _LIVE_LOCK:
        containers = list(_LIVE.values())
        _LIVE.clear()
    for container in containers:
        try:
            container.remove(force=True)
        except Exception:  # noqa: BLE001, S110 - best effort at interpreter exit
            pass


atexit.register(_remove_leftovers)


def _split_image(image: str) -> tuple[str, str]:
    """repository and tag (digests stay in the repository part, as the SDK wants)."""
    if "@" in image:
        return image, ""
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, "latest"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class EmulatorManager:
    """Context manager: `with EmulatorManager() as emu: KustoBackend(emu.url, emu.database)`."""

    def __init__(
        self,
        image: str = EMULATOR_IMAGE,
        *,
        port: int = 8080,
        port_env: str | None = None,
        database: str = EMULATOR_DATABASE,
        pull: str = "missing",
        ready_timeout: float = 600.0,
        environment: dict[str, str] | None = None,
        mem_limit: str | None = "4g",
        reuse: bool = True,
        progress: Callable[[str], None] | None = _stderr,
        client: Any | None = None,
    ) -> None:
        """`port` is the container's REST port; `port_env` names an environment variable the
        image reads its port from (so host networking can use a free port); `pull` is
        "missing", "always" or "never"."""
        if pull not in ("missing", "always", "never"):
            raise UsageError(f"pull must be missing, always or never, not {pull!r}")
        self.image = image
        self.port = port
        self.port_env = port_env
        self.database = database
        self.pull = pull
        self.ready_timeout = ready_timeout
        self.environment = dict(environment or {})
        self.mem_limit = mem_limit
        self.reuse = reuse
        self.progress = progress or (lambda _m: None)
        self._client = client
        self.container: Any | None = None
        self.started = False  # True only when this manager created the container
        self.url: str | None = None
        self._old_sigterm: Any = None

    # -- context manager --------------------------------------------------------
    def __enter__(self) -> EmulatorManager:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(quiet=exc is not None)

    # -- docker ------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from docker.errors import DockerException

            import docker

            try:
                client = docker.from_env(timeout=120)
                client.ping()
            except (DockerException, requests.RequestException) as exc:
                where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
                raise EnvironmentFailure(
                    f"no Docker daemon reachable at {where} ({_short(exc)}); start Docker "
                    "(on CI: scripts/start-dockerd.sh) or run against a cluster with --backend kusto --kusto-url",
                ) from exc
            self._client = client
        return self._client

    def start(self) -> str:
        """Reuse or start the emulator and wait until it answers; returns its URL."""
        if self.url is not None:
            return self.url
        self._trap_sigterm()
        try:
            if self.reuse:
                found = self._find_running()
                if found is not None:
                    self.container, self.url = found
                    self.progress(f"reusing running emulator {self.container.short_id} at {self.url}")
                    return self.url
            self._ensure_image()
            self._run()
            self._wait_ready()
            return self.url  # type: ignore[return-value]
        except BaseException:
            self.stop(quiet=True)
            raise

    def _find_running(self) -> tuple[Any, str] | None:
        try:
            candidates = self.client.containers.list(filters={"ancestor": self.image, "status": "running"})
        except Exception:  # noqa: BLE001 - an unknown image simply has no containers
            candidates = []
        for container in candidates:
            url = self._container_url(container)
            if url and self._answers(url):
                return container, url
        return None

    def _container_url(self, container: Any) -> str | None:
        attrs = container.attrs
        if attrs.get("HostConfig", {}).get("NetworkMode") == "host":
            port = self.port
            if self.port_env:
                env = dict(e.split("=", 1) for e in attrs.get("Config", {}).get("Env") or [] if "=" in e)
                port = int(env.get(self.port_env, port))
            return f"http://127.0.0.1:{port}"
        bindings = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{self.port}/tcp") or []
        for binding in bindings:
            host_ip = binding.get("HostIp") or "127.0.0.1"
            if host_ip in ("0.0.0.0", "::", ""):  # noqa: S104 - reading docker's binding, not binding
                host_ip = "127.0.0.1"
            return f"http://{host_ip}:{binding['HostPort']}"
        return None

    def _ensure_image(self) -> None:
        from docker.errors import DockerException, ImageNotFound

        present = True
        try:
            self.client.images.get(self.image)
        except ImageNotFound:
            present = False
        except (DockerException, requests.RequestException) as exc:
            raise EnvironmentFailure(f"cannot inspect image {self.image}: {_short(exc)}") from exc
        if present and self.pull != "always":
            return
        if not present and self.pull == "never":
            raise EnvironmentFailure(
                f"image {self.image} is not present locally and pulling is off "
                "(build it with scripts/build-test-image.sh, or `docker pull` it)",
            )
        self._pull()

    def _pull(self) -> None:
        from docker.errors import DockerException

        repo, tag = _split_image(self.image)
        self.progress(f"pulling {self.image} (the Kusto emulator is about 1.2 GB; this happens once)")
        layers: dict[str, tuple[int, int]] = {}
        shown = -1
        try:
            for event in self.client.api.pull(repo, tag=tag or None, stream=True, decode=True):
                if "error" in event:
                    raise EnvironmentFailure(
                        f"cannot pull {self.image}: {event.get('error')} "
                        "(can the Docker daemon reach the registry? mcr.microsoft.com must be reachable)",
                    )
                detail = event.get("progressDetail") or {}
                if event.get("id") and detail.get("total"):
                    layers[event["id"]] = (int(detail.get("current") or 0), int(detail["total"]))
                elif event.get("id") and event.get("status") in ("Download complete", "Pull complete"):
                    current, total = layers.get(event["id"], (0, 0))
                    layers[event["id"]] = (total or current, total or current)
                done = sum(c for c, _ in layers.values())
                total = sum(t for _, t in layers.values()) or 1
                percent = int(100 * done / total)
                if layers and percent // 5 != shown // 5:
                    shown = percent
                    self.progress(f"  pulling: {done / 1e6:.0f}/{total / 1e6:.0f} MB ({percent}%)")
        except (DockerException, requests.RequestException) as exc:
            raise EnvironmentFailure(
                f"cannot pull {self.image}: {_short(exc)} (is mcr.microsoft.com reachable from the Docker daemon?)",
            ) from exc
        self.progress(f"pulled {self.image}")

    def _has_bridge(self) -> bool:
        try:
            return bool(self.client.networks.list(names=["bridge"]))
        except Exception:  # noqa: BLE001 - no answer means no bridge we can count on
            return False

    def _run(self) -> None:
        from docker.errors import DockerException

        env = {"ACCEPT_EULA": "Y", **self.environment}
        options: dict[str, Any] = {
            "environment": env,
            "labels": {LABEL: "1", f"{LABEL}.pid": str(os.getpid())},
            "name": f"atomic-harness-emulator-{uuid.uuid4().hex[:8]}",
        }
        if self.mem_limit:
            options["mem_limit"] = self.mem_limit
        bridged = self._has_bridge()
        host_port = self.port
        if bridged:
            options["ports"] = {f"{self.port}/tcp": ("127.0.0.1", None)}
        else:
            options["network_mode"] = "host"
            if self.port_env:
                host_port = _free_port()
                env[self.port_env] = str(host_port)
            elif _port_in_use(host_port):
                raise EnvironmentFailure(
                    f"port {host_port} is already in use on this host, and the Docker daemon has no bridge "
                    "network, so the emulator must use the host network and that port",
                )
        try:
            container = self.client.containers.create(self.image, **options)
        except (DockerException, requests.RequestException) as exc:
            raise EnvironmentFailure(
                f"cannot create a container from {self.image}: {_short(exc)}"
            ) from exc
        # Ours from here on, so a failed start (or Ctrl-C during it) still removes it.
        self.container, self.started = container, True
        with _LIVE_LOCK:
            _LIVE[container.id] = container
        try:
            container.start()
        except (DockerException, requests.RequestException) as exc:
            raise EnvironmentFailure(f"cannot start {self.image}: {_short(exc)}") from exc
        self.progress(f"started emulator container {container.short_id} ({'bridge' if bridged else 'host network'})")
        if bridged:
            container.reload()
            url = self._container_url(container)
            if url is None:
                raise EnvironmentFailure(f"container {container.short_id} published no port for {self.port}/tcp")
            self.url = url
        else:
            self.url = f"http://127.0.0.1:{host_port}"

    def _answers(self, url: str) -> bool:
        return self._probe(url) is None

    def _probe(self, url: str) -> str | None:
        """None when the endpoint answers `print ready = 1`, else why not."""
        try:
            resp = requests.post(
                f"{url}/v1/rest/query",
                json={"db": self.database, "csl": "print ready = 1"},
                timeout=5,
            )
        except requests.RequestException as exc:
            return f"{type(exc).__name__}"
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}: {resp.text[:200]}"
        try:
            rows = resp.json()["Tables"][0]["Rows"]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"unexpected answer: {resp.text[:200]}"
        return None if rows == [[1]] else f"unexpected rows: {rows!r}"

    def _wait_ready(self) -> None:
        if self.container is None or self.url is None:
            raise RuntimeError("the emulator container is not started")
        self.progress(f"waiting for the emulator at {self.url} to answer a query")
        deadline = time.monotonic() + self.ready_timeout
        reason = "no answer yet"
        while True:
            reason = self._probe(self.url) or ""
            if not reason:
                self.progress("emulator ready")
                return
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                raise EnvironmentFailure(
                    f"emulator container {self.container.short_id} stopped ({self.container.status}) before "
                    f"answering: {self._logs_tail()}",
                )
            if time.monotonic() > deadline:
                raise EnvironmentFailure(
                    f"emulator at {self.url} did not answer a query on database {self.database!r} within "
                    f"{self.ready_timeout:g} s (last: {reason}); container log: {self._logs_tail()}",
                )
            time.sleep(0.5)

    def _logs_tail(self) -> str:
        try:
            text = self.container.logs(tail=8).decode("utf-8", "replace")  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001
            return "(no logs)"
        return " | ".join(line for line in text.splitlines() if line.strip()) or "(empty)"

    def stop(self, *, quiet: bool = False) -> None:
        """Remove the container if this manager started it; leave a reused one running."""
        container, started = self.container, self.started
        self.container, self.started, self.url = None, False, None
        self._restore_sigterm()
        if container is None or not started:
            return
        from docker.errors import DockerException, NotFound

        try:
            container.remove(force=True)
            self.progress(f"removed emulator container {container.short_id}")
        except NotFound:
            pass
        except (DockerException, requests.RequestException) as exc:
            if not quiet:
                raise EnvironmentFailure(
                    f"could not remove emulator container {container.short_id}: {_short(exc)}"
                ) from exc
            _stderr(f"warning: could not remove emulator container {container.short_id}: {_short(exc)}")
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(container.id, None)

    # -- SIGTERM as Ctrl-C, so `finally` blocks run and the container goes -------------
    def _trap_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def interrupt(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        self._old_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


class EmulatorBackend(KustoBackend):
    """The Kusto REST backend on an emulator this backend starts (or reuses) and stops on close."""

    name = "emulator"

    def __init__(
        self,
        registry: SchemaRegistry | None = None,
        timeout: float = 60.0,
        *,
        manager: EmulatorManager | None = None,
        **manager_options: Any,
    ) -> None:
        self.manager = manager or EmulatorManager(**manager_options)
        url = self.manager.start()
        try:
            super().__init__(url, database=self.manager.database, registry=registry, timeout=timeout)
        except BaseException:
            self.manager.stop(quiet=True)
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.manager.stop()
