"""The docker backend for real: PostgreSQL and Redis in containers on a Docker engine, the services over HTTP.

The engine is DOCKER_HOST, else the one docker/prepare-engine.sh starts (its socket in CHECKLIST_DOCKER_STATE,
default /tmp/checklist-docker), else docker's default socket. The containers share the host's network
(STACK_DOCKER_NETWORK, default host) and run the images that script builds (STACK_POSTGRES_IMAGE,
STACK_REDIS_IMAGE). Without an engine, or without those images on it, every test is skipped with the reason.
Under xdist both workers may run tests of this module on the one engine at once, so each test looks only at the
containers of the process it started (the stack's owner label), and the module removes, on failure too, what its
own process or a dead one left.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from docker.client import DockerClient
from docker.errors import DockerException, ImageNotFound, NotFound

from harness.data import new_account
from harness.plan import all_cases
from reference_impl.stack.api import RunningStack, StackConfig, reference_stack
from reference_impl.stack.backends import DEFAULT_DOCKER_HOST, DockerBackend, choose_backend, docker_engine
from tests.conftest import Api, bearer, webhook_payload
from tests.lone_service import read_until_ready

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("CHECKLIST_DOCKER_STATE", "/tmp/checklist-docker"))  # noqa: S108
NETWORK = os.environ.get("STACK_DOCKER_NETWORK", "host")
POSTGRES_IMAGE = os.environ.get("STACK_POSTGRES_IMAGE", "checklist/postgres:16")
REDIS_IMAGE = os.environ.get("STACK_REDIS_IMAGE", "checklist/redis:6.2")
LABEL = "org.testcontainers=true"
FREE_PORTS = {"auth": 0, "users": 0, "webhook": 0}
CHECKLIST_TIMEOUT = 300


def _docker_host() -> str:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    socket = STATE / "docker.sock"
    return f"unix://{socket}" if socket.exists() else DEFAULT_DOCKER_HOST


@dataclass(frozen=True)
class Engine:
    host: str
    client: DockerClient

    def labelled(self, owner: int) -> set[str]:
        """Ids of the containers the stack in process `owner` started, running or not."""
        label = f"{DockerBackend.OWNER_LABEL}={owner}"
        return {str(c.id) for c in self.client.containers.list(all=True, filters={"label": [LABEL, label]})}

    def remove_leftovers(self) -> None:
        """The containers of this process's stacks and of any stack whose process is gone."""
        for container in self.client.containers.list(all=True, filters={"label": LABEL}):
            owner = container.labels.get(DockerBackend.OWNER_LABEL)
            if owner and (int(owner) == os.getpid() or not psutil.pid_exists(int(owner))):
                with contextlib.suppress(NotFound):
                    container.remove(force=True, v=True)

    def settings(self) -> dict[str, str]:
        return {
            "DOCKER_HOST": self.host,
            "STACK_DOCKER_NETWORK": NETWORK,
            "STACK_POSTGRES_IMAGE": POSTGRES_IMAGE,
            "STACK_REDIS_IMAGE": REDIS_IMAGE,
        }


def _open_engine(host: str) -> DockerClient:
    if docker_engine(host) is None:
        where = (
            "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else f"DOCKER_HOST unset, no {STATE}/docker.sock"
        )
        pytest.skip(f"no docker engine answered at {host} ({where}; docker/prepare-engine.sh starts one)")
    client = DockerClient(base_url=host, timeout=30)
    try:
        for image in (POSTGRES_IMAGE, REDIS_IMAGE):
            client.images.get(image)
    except ImageNotFound:
        client.close()
        pytest.skip(
            f"image {image} is not on the docker engine at {host} (docker/prepare-engine.sh builds it)"
        )
    except DockerException as exc:
        client.close()
        pytest.skip(f"docker engine at {host}: {exc}")
    return client


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    host = _docker_host()
    engine = Engine(host, _open_engine(host))
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in engine.settings().items():
                patch.setenv(name, value)  # testcontainers finds the engine through DOCKER_HOST
            yield engine
    finally:
        engine.remove_leftovers()  # whatever a failed or killed stack left
        engine.client.close()


def _config(log_dir: Path) -> StackConfig:
    return StackConfig(
        backend="docker",
        ports=FREE_PORTS,
        log_dir=log_dir,
        docker_network=NETWORK,
        docker_postgres_image=POSTGRES_IMAGE,
        docker_redis_image=REDIS_IMAGE,
    )


@pytest.fixture(scope="module")
def docker_stack(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with reference_stack(_config(tmp_path_factory.mktemp("logs-docker"))) as stack:
        yield stack


@pytest.fixture(scope="module")
def docker_api(docker_stack: RunningStack) -> Iterator[Api]:
    client = Api(docker_stack)
    yield client
    client.close()


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def _listeners(port: int) -> set[str]:
    """The addresses a server listens on at `port` (TCP, IPv4 and IPv6)."""
    return {
        conn.laddr[0]
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr[1] == port
    }


def _interrupt(proc: "subprocess.Popen[str]") -> None:
    """Ctrl-C, as a user would (what it started stops its containers on KeyboardInterrupt); killed if that hangs.
    Reads its pipes while waiting, so a chatty process cannot block on a full one."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def test_services_answer_health_on_the_docker_backend(docker_stack: RunningStack) -> None:
    assert docker_stack.backend == "docker"
    assert f"{NETWORK} network, {POSTGRES_IMAGE} and {REDIS_IMAGE}" in docker_stack.backend_reason
    for service, origin in docker_stack.origins.items():
        response = httpx.get(f"{origin}/health", timeout=5)
        assert response.status_code == 200, f"{service}: {response.status_code} {response.text}"


def test_postgres_and_redis_run_in_labelled_containers(engine: Engine, docker_stack: RunningStack) -> None:
    from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

    ours = engine.client.containers.list(filters={"label": f"{LABEL_SESSION_ID}={SESSION_ID}"})
    images = sorted(tag for container in ours for tag in container.image.tags)  # type: ignore[union-attr]
    assert images == sorted([POSTGRES_IMAGE, REDIS_IMAGE])
    assert {container.attrs["HostConfig"]["NetworkMode"] for container in ours} == {NETWORK}
    if NETWORK == "host":
        for url in (docker_stack.database_url, docker_stack.redis_url):
            assert urlsplit(url).hostname == "127.0.0.1", url
            # Free ports chosen per stack, never the host's own 5432/6379; listening on the loopback only.
            port = _port(url)
            assert port not in (5432, 6379), url
            listeners = _listeners(port)
            assert listeners == {"127.0.0.1"}, (url, listeners)


def test_register_login_me_and_webhook_round_trip(docker_api: Api) -> None:
    account = new_account()
    registered = docker_api.register(account)
    assert registered.status_code == 201, registered.text
    login = docker_api.login(account["email"], account["password"])
    assert login.status_code == 200, login.text
    me = docker_api.me(login.json()["access_token"])
    assert me.status_code == 200, me.text
    assert (me.json()["second_login"], me.json()["contacts"]["email"]) == (
        account["second_login"],
        account["email"],
    )
    refused = docker_api.users.get("/me", headers=bearer("not-a-token"))
    assert refused.status_code == 401, refused.text

    payload = webhook_payload(Amount="42.00")
    paid = docker_api.post_webhook(payload)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["payment_id"], paid.json()["amount"]) == (
        "processed",
        payload["Id"],
        "42.00",
    )


def test_checklist_suite_passes_on_the_docker_backend(engine: Engine, tmp_path: Path) -> None:
    dropped = ("DATABASE_URL", "REDIS_URL", "CHECKLIST_TARGET", "STACK_BACKEND")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.endswith(("_BASE_URL", "_LOG")) and not key.startswith("FAULT_")
    }
    argv = [sys.executable, "-m", "pytest", "test_checklist.py", "-q", "-p", "no:cacheprovider"]
    argv += ["--stack-backend", "docker", "--reports-dir", str(tmp_path / "reports")]
    run = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env | engine.settings(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = run.communicate(timeout=CHECKLIST_TIMEOUT)
    except subprocess.TimeoutExpired:
        _interrupt(run)
        pytest.fail(f"the checklist did not finish within {CHECKLIST_TIMEOUT}s")
    assert run.returncode == 0, stdout[-3000:] + stderr[-2000:]
    summary = [line for line in stdout.splitlines() if " passed" in line][-1]
    assert f"{len(all_cases())} passed" in summary and "skipped" not in summary and "failed" not in summary, (
        summary
    )
    results = (tmp_path / "reports" / "latest" / "results.json").read_text(encoding="utf-8")
    assert "docker backend" in results
    assert not engine.labelled(run.pid), "the checklist run left containers behind"


def test_no_container_is_left_after_the_stack_stops(engine: Engine, tmp_path: Path) -> None:
    before = engine.labelled(os.getpid())  # the module's own stack, when it runs
    with reference_stack(_config(tmp_path / "logs")) as stack:
        started = engine.labelled(os.getpid()) - before
        running = {cid: engine.client.containers.get(cid).status for cid in started}
        assert list(running.values()) == ["running", "running"], running
        ports = [_port(stack.database_url), _port(stack.redis_url)]
    assert not engine.labelled(os.getpid()) & started, "containers outlived the stack"
    if NETWORK == "host":
        # Nothing listens where PostgreSQL and Redis did (binding would race with the host's ephemeral ports).
        assert {port: _listeners(port) for port in ports} == {port: set() for port in ports}


def test_up_command_on_docker_stops_everything_on_sigterm(engine: Engine, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "reference_impl", "up", "--backend", "docker", "--log-dir", str(tmp_path)]
    argv += ["--docker-network", NETWORK, "--postgres-image", POSTGRES_IMAGE, "--redis-image", REDIS_IMAGE]
    argv += ["--auth-port", "0", "--users-port", "0", "--webhook-port", "0"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("STACK_")}
    up = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = read_until_ready(up)
        assert lines[0].strip() == (
            f"backend: docker (requested; {NETWORK} network, {POSTGRES_IMAGE} and {REDIS_IMAGE})"
        ), "".join(lines)
        assert len(engine.labelled(up.pid)) == 2
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
    finally:
        if up.poll() is None:
            _interrupt(up)
        else:
            up.communicate()
    assert not engine.labelled(up.pid), "containers outlived `up`"


def test_auto_backend_names_the_engine_it_found(engine: Engine, tmp_path: Path) -> None:
    backend, reason = choose_backend("auto", None, None, tmp_path, tmp_path, docker_network=NETWORK)
    assert (backend.name, reason.split(";")[0]) == ("docker", f"docker engine at {engine.host} answered")

    missing = f"unix://{tmp_path / 'no-engine.sock'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", missing)
        backend, reason = choose_backend("auto", None, None, tmp_path, tmp_path)
    assert (backend.name, reason) == (
        "embedded",
        f"no DATABASE_URL/REDIS_URL and no docker engine at {missing}",
    )
