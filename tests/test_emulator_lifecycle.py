"""EmulatorManager against a real Docker daemon.

The daemon is the one scripts/start-dockerd.sh starts (vfs storage, no bridge, host
networking), and the image is atomic-harness/kusto-rest-test:local, built locally by
scripts/build-test-image.sh because no registry is reachable for base images: it serves
the same Kusto REST API as the emulator. Skipped, with the reason, only where no daemon
can start. The real emulator test (marker `emulator`) never downloads the image unless
ATOMIC_HARNESS_PULL_EMULATOR=1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.backends.emulator import EMULATOR_IMAGE, LABEL, EmulatorBackend, EmulatorManager
from harness.errors import HarnessError
from harness.run.compare import compare_results, query_sorts, render, sort_keys
from harness.workspace.tables import SchemaRegistry

ROOT = Path(__file__).resolve().parents[1]
TEST_IMAGE = "atomic-harness/kusto-rest-test:local"
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


#: One xdist worker runs this module: its tests count and remove the containers they start.
pytestmark = pytest.mark.xdist_group("docker")


def _client() -> Any:
    import docker

    client = docker.from_env(timeout=60)
    client.ping()
    return client


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    """A reachable daemon, started with the repo's script when none answers."""
    try:
        client = _client()
    except Exception:  # noqa: BLE001 - any failure here means: try to start one
        run = subprocess.run(
            ["bash", str(ROOT / "scripts/start-dockerd.sh")], capture_output=True, text=True, timeout=300
        )
        if run.returncode != 0:
            pytest.skip(f"no Docker daemon can start here: {run.stderr.strip().splitlines()[-1:]}")
        client = _client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def test_image(docker_client: Any) -> str:
    run = subprocess.run(
        ["bash", str(ROOT / "scripts/build-test-image.sh")], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"building {TEST_IMAGE} failed: {run.stderr}"
    return TEST_IMAGE


def manager(image: str, **kw: Any) -> EmulatorManager:
    options: dict[str, Any] = {"port_env": "KUSTO_PORT", "pull": "never", "mem_limit": None, "ready_timeout": 60}
    options.update(kw)
    return EmulatorManager(image, **options)


def ours(client: Any) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"{LABEL}.pid={os.getpid()}"})


def gone(client: Any, container_id: str) -> bool:
    from docker.errors import NotFound

    try:
        client.containers.get(container_id)
    except NotFound:
        return True
    return False


def email_tables(registry: SchemaRegistry) -> dict[str, pa.Table]:
    schema = registry["EmailUrlInfo"].arrow_schema()
    times = [(NOW - timedelta(hours=h)).replace(tzinfo=None) for h in (1, 2, 30)]
    return {
        "EmailUrlInfo": pa.table(
            {
                "TimeGenerated": pa.array(times, schema.field("TimeGenerated").type),
                "Url": ["https://bit.ly/login", "https://dweb.link/ipfs/x", "https://bit.ly/old"],
                "UrlDomain": ["bit.ly", "dweb.link", "bit.ly"],
            }
        )
    }


QUERY = "EmailUrlInfo | where TimeGenerated > ago(24h) | summarize n = count() by UrlDomain | sort by UrlDomain asc"


@pytest.mark.docker
def test_start_reuse_query_and_remove(docker_client: Any, test_image: str) -> None:
    """One container: started by a manager, reused by a backend (which leaves it running),
    queried with the same answer as the embedded engine, removed by the manager that started it."""
    registry = SchemaRegistry()
    with manager(test_image, reuse=False) as first:
        assert first.started and first.url is not None
        container_id = first.container.id
        backend = EmulatorBackend(registry, manager=manager(test_image))
        try:
            assert not backend.manager.started
            assert backend.manager.container.id == container_id and backend.url == first.url
            assert backend.database == "NetDefaultDB"
            tables = email_tables(registry)
            backend.load(tables)
            right = backend.query(QUERY, now=NOW)
            embedded = EmbeddedBackend(registry)
            embedded.load(tables)
            left = embedded.query(QUERY, now=NOW)
            embedded.close()
            assert right.rows == [("bit.ly", 1), ("dweb.link", 1)]
            found = compare_results(left, right, ordered=query_sorts(QUERY), keys=sort_keys(QUERY))
            assert found == [], render(found, left="embedded", right="emulator")
        finally:
            backend.close()
        assert not gone(docker_client, container_id)  # the reuser did not remove it
    assert gone(docker_client, container_id)
    assert ours(docker_client) == []


@pytest.mark.docker
def test_removed_when_it_never_answers(docker_client: Any, test_image: str) -> None:
    with pytest.raises(HarnessError, match="did not answer a query on database 'NoSuchDb'"):
        manager(test_image, database="NoSuchDb", ready_timeout=3, reuse=False).start()
    assert ours(docker_client) == []


@pytest.mark.docker
def test_removed_when_the_container_dies(docker_client: Any, test_image: str) -> None:
    bad = manager(test_image, port_env=None, port=18080, environment={"KUSTO_PORT": "not-a-port"}, reuse=False)
    with pytest.raises(HarnessError, match="stopped \\(exited\\) before answering.*not-a-port"):
        bad.start()
    assert ours(docker_client) == []


@pytest.mark.docker
def test_unpullable_image_is_a_clear_error(docker_client: Any) -> None:
    with pytest.raises(HarnessError, match="cannot pull 127.0.0.1:9/atomic-harness/absent:1"):
        manager("127.0.0.1:9/atomic-harness/absent:1", pull="missing").start()
    with pytest.raises(HarnessError, match="not present locally and pulling is off"):
        manager("atomic-harness/absent:1", pull="never").start()


@pytest.mark.docker
def test_removed_on_ctrl_c(docker_client: Any, test_image: str) -> None:
    script = textwrap.dedent(
        f"""
        import signal
        import time
        # A shell that starts pytest in the background hands SIGINT down ignored; Ctrl-C in a
        # terminal never is, so give the child the handler a terminal's process has.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from harness.backends.emulator import EmulatorManager
        with EmulatorManager({test_image!r}, port_env="KUSTO_PORT", pull="never", mem_limit=None,
                             reuse=False, progress=None) as m:
            print(m.container.id, flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        container_id = proc.stdout.readline().strip()
        assert container_id, "the child did not start its container"
        assert not gone(docker_client, container_id)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert gone(docker_client, container_id)


def test_no_daemon_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(HarnessError, match="no Docker daemon reachable") as err:
        EmulatorManager().start()
    assert err.value.kind == "environment"


@pytest.mark.emulator
def test_real_emulator_end_to_end(docker_client: Any) -> None:
    """The real kustainer image: runs where it is present (or may be pulled), else skips."""
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(EMULATOR_IMAGE)
        pull = "never"
    except ImageNotFound:
        if os.environ.get("ATOMIC_HARNESS_PULL_EMULATOR") != "1":
            pytest.skip(
                f"{EMULATOR_IMAGE} is not present locally and tests never download it "
                "(docker pull it, or set ATOMIC_HARNESS_PULL_EMULATOR=1)"
            )
        pull = "missing"
    registry = SchemaRegistry()
    backend = EmulatorBackend(registry, pull=pull, ready_timeout=600)
    try:
        tables = email_tables(registry)
        backend.load(tables)
        right = backend.query(QUERY, now=NOW)
        embedded = EmbeddedBackend(registry)
        embedded.load(tables)
        left = embedded.query(QUERY, now=NOW)
        embedded.close()
        found = compare_results(left, right, ordered=query_sorts(QUERY), keys=sort_keys(QUERY))
        assert found == [], render(found, left="embedded", right="emulator")
    finally:
        backend.close()
