"""The container path, checked without a container engine.

What the daemon sees in the container is the Dockerfile's ENV lines overlaid by the env file
(``docker run --env-file`` wins over the image). From that: where it listens, where the queue is,
who runs it. Then examples/docker.env runs for real, with the lines of examples/docker-run.sh
that make its certificate and users file, only the container's addresses and paths mapped
onto this host: mail comes in with SMTP AUTH over STARTTLS, the dry-run fax goes out to the
outbox, the status mail to the relay. The HEALTHCHECK command runs against a live daemon.
"""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mail2fax.settings import load_settings
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import running, settings_for
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver
from tests.test_deployment import (
    ENV_FILES,
    EXAMPLES,
    ROOT,
    dockerfile_env,
    dockerfile_instructions,
    env_assignments,
    exec_form,
)

DOCKER_ENV = EXAMPLES / "docker.env"
DOCKER_RUN = EXAMPLES / "docker-run.sh"
VOLUME = "/var/lib/mail2fax"
CONFIG_DIR = "/etc/mail2fax"


def container_view(env_file: Path) -> dict[str, str]:
    """The MAIL2FAX_* variables the daemon sees: the image's ENV, then the env file over it."""
    view = {name: value for name, value in dockerfile_env().items() if name.startswith("MAIL2FAX_")}
    view.update({key: value for _, key, value in env_assignments(env_file)})
    return view


def docker_run_command() -> str:
    """docker-run.sh as one line per command (continuations joined)."""
    return DOCKER_RUN.read_text(encoding="utf-8").replace("\\\n", " ")


def run_lines() -> list[str]:
    return [" ".join(line.split()) for line in docker_run_command().splitlines() if '"$DOCKER" run' in line]


# --- what the daemon sees in the container ------------------------------------------------------


@pytest.mark.parametrize("path", ENV_FILES, ids=[path.name for path in ENV_FILES])
def test_in_the_container_every_example_listens_where_published_ports_lead(path: Path) -> None:
    view = container_view(path)
    host = ipaddress.ip_address(view["MAIL2FAX_SMTP__HOST"])
    assert host.is_unspecified, f"{path.name}: SMTP on {host} in the container: no published port reaches it"
    assert view["MAIL2FAX_DATA_DIR"] == VOLUME, f"{path.name}: the queue would not be in the volume"
    assert ipaddress.ip_address(view["MAIL2FAX_METRICS__HOST"]).is_unspecified
    assert view.get("MAIL2FAX_LOG_LEVEL", "INFO") != "DEBUG", f"{path.name}: DEBUG logs every poll"


def test_the_image_user_owns_the_volume_and_the_config_directory() -> None:
    instructions = dockerfile_instructions()
    [user] = [arguments for keyword, arguments in instructions if keyword == "USER"]
    uid, _, gid = user.partition(":")
    [created] = [
        arguments for keyword, arguments in instructions if keyword == "RUN" and "useradd" in arguments
    ]
    made = re.search(r"install -d -o (\d+) -g (\d+) -m 0700 ((?:/\S+ ?)+)", created)
    assert made, created
    assert made.groups()[:2] == (uid, gid)
    assert set(made.group(3).split()) == {VOLUME, CONFIG_DIR}
    assert dockerfile_env()["MAIL2FAX_DATA_DIR"] == VOLUME


def test_docker_env_trusts_no_container_network() -> None:
    """Behind published ports clients may all share the gateway's address: trust nothing but loopback."""
    view = container_view(DOCKER_ENV)
    networks = [
        ipaddress.ip_network(text) for text in re.findall(r'"([^"]+)"', view["MAIL2FAX_TRUSTED_NETWORKS"])
    ]
    assert networks
    assert all(network.is_loopback for network in networks), networks


def test_docker_env_relay_is_the_relay_container_on_the_same_network() -> None:
    view = container_view(DOCKER_ENV)
    relay = view["MAIL2FAX_RELAY__HOST"]
    assert relay not in ("127.0.0.1", "localhost", "::1"), "127.0.0.1 is the container itself"
    relay_line, daemon_line = (
        next(line for line in run_lines() if f"--name {name} " in line) for name in (relay, "mail2fax")
    )
    assert "--network mail2fax" in relay_line
    assert "--network mail2fax" in daemon_line
    assert f"-l 0.0.0.0:{view['MAIL2FAX_RELAY__PORT']}" in relay_line


def test_docker_env_files_are_the_ones_docker_run_writes_into_the_mounted_volume() -> None:
    view = container_view(DOCKER_ENV)
    named = {value for name, value in view.items() if value.startswith(CONFIG_DIR + "/")}
    assert named == {f"{CONFIG_DIR}/tls.crt", f"{CONFIG_DIR}/tls.key", f"{CONFIG_DIR}/users"}
    script = docker_run_command()
    for path in named:
        assert path in script.replace("-keyout ", "").replace("-out ", "")
    daemon_line = next(line for line in run_lines() if "--name mail2fax " in line)
    assert f"-v mail2fax-etc:{CONFIG_DIR}:ro" in daemon_line
    assert f"-v mail2fax-data:{VOLUME}" in daemon_line


# --- examples/docker.env, running -----------------------------------------------------------------


def _make_config_as_docker_run_does(config: Path) -> None:
    """Run docker-run.sh's own openssl and users-file lines, with /etc/mail2fax moved to ``config``."""
    script = docker_run_command()
    openssl = re.search(r"--entrypoint openssl mail2fax\s+(req .*?)\n", script, flags=re.DOTALL)
    users = re.search(r"--entrypoint sh mail2fax -c '([^']+)'", script)
    assert openssl
    assert users
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    argv = ["openssl", *shlex.split(openssl.group(1).replace(CONFIG_DIR, str(config)))]
    subprocess.run(argv, check=True, capture_output=True, timeout=60, env=env)
    subprocess.run(
        ["sh", "-c", users.group(1).replace(CONFIG_DIR, str(config))],
        input=b"scanner-secret\n",
        check=True,
        capture_output=True,
        timeout=60,
        env=env,
    )


async def _send_test_fax(port: int, document: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "send_test_fax.py"),
        "14155551212",
        str(document),
        "127.0.0.1",
        str(port),
        "--from",
        "scanner@example.com",
        *extra,
        env={**os.environ, "SMTP_PASSWORD": "scanner-secret"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return subprocess.CompletedProcess([], process.returncode, out, err)


async def test_docker_env_takes_mail_with_auth_faxes_in_dry_run_and_mails_the_status(
    tmp_path: Path, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc-mail2fax"
    config.mkdir(mode=0o700)
    _make_config_as_docker_run_does(config)
    mapped = {
        # This host's loopback stands in for the container's address; the client, behind the
        # published port, is not on the container's loopback, so nothing it sends is trusted.
        "MAIL2FAX_SMTP__HOST": "127.0.0.1",
        "MAIL2FAX_SMTP__PORT": "0",
        "MAIL2FAX_METRICS__HOST": "127.0.0.1",
        "MAIL2FAX_METRICS__PORT": "0",
        "MAIL2FAX_TRUSTED_NETWORKS": "[]",
        "MAIL2FAX_DATA_DIR": str(tmp_path / "data"),
        "MAIL2FAX_RELAY__HOST": "127.0.0.1",
        "MAIL2FAX_RELAY__PORT": str(relay.port),
    }
    for name, value in container_view(DOCKER_ENV).items():
        monkeypatch.setenv(name, mapped.get(name, value.replace(CONFIG_DIR, str(config))))
    settings = load_settings(_env_file=None)
    document = tmp_path / "scan.pdf"
    document.write_bytes(pdf_bytes(1))

    async with running(settings) as daemon:
        port = daemon.smtp_port or 0
        stranger = await deliver(port, b"Subject: hi\r\n\r\nhi\r\n", recipients=["14155551212@fax.local"])
        sent = await _send_test_fax(port, document, "--starttls", "--user", "scanner")
        [status] = await relay.wait_for(1)

    assert stranger.mail.code == 530, stranger.mail
    assert sent.returncode == 0, sent.stderr.decode()
    assert b"accepted: 14155551212@fax.local" in sent.stdout
    [job] = list((tmp_path / "data" / "outbox").iterdir())
    faxed = [path for path in job.iterdir() if path.name.endswith("-scan.pdf")]
    assert [path.read_bytes() for path in faxed] == [document.read_bytes()]
    assert status.recipients == ["scanner@example.com"]
    assert status.subject.startswith("Fax to +14155551212")


# --- HEALTHCHECK -----------------------------------------------------------------------------


def healthcheck_argv() -> list[str]:
    checks = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "exactly one HEALTHCHECK"
    _, sep, command = checks[0].partition("CMD ")
    assert sep, checks[0]
    return exec_form(command)


def test_healthcheck_knocks_on_smtp_from_outside() -> None:
    """The image's check is `mail2fax health --external`: the container's own address, not loopback."""
    assert healthcheck_argv() == ["mail2fax", "health", "--external"]


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "failing", "reasons": ["the queue cannot be written: disk full"]}'
        self.send_response(503 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def failing_healthz() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_health_follows_the_smtp_listener_and_healthz(
    tmp_path: Path, relay: CaptureRelay, failing_healthz: int
) -> None:
    # The image's command, knocking at the listen address (this host's name need not be ours).
    command = healthcheck_argv()[1:2]
    settings = settings_for(tmp_path, relay, metrics={"host": "127.0.0.1", "port": 0})
    async with running(settings) as daemon:
        where = {
            "MAIL2FAX_SMTP__PORT": str(daemon.smtp_port),
            "MAIL2FAX_METRICS__PORT": str(daemon.metrics_port),
        }
        healthy = await run_cli(settings, *command, env=where)
        sick = await run_cli(
            settings, *command, env={**where, "MAIL2FAX_METRICS__PORT": str(failing_healthz)}
        )
    gone = await run_cli(settings, *command, env=where)

    assert healthy.code == 0, healthy.stderr
    assert healthy.stdout.startswith(f"healthy: SMTP at 127.0.0.1:{daemon.smtp_port} greets with 220")
    assert sick.code == 1
    assert sick.error == (
        f"mail2fax: unhealthy: http://127.0.0.1:{failing_healthz}/healthz answered 503: "
        "the queue cannot be written: disk full"
    )
    assert gone.code == 1
    assert gone.error.startswith(
        f"mail2fax: unhealthy: nothing answers SMTP at 127.0.0.1:{daemon.smtp_port}: "
    )


# --- pinned dependencies ----------------------------------------------------------------------


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        [specifier] = list(requirement.specifier)
        assert specifier.operator == "==", f"{text}: pin one version with =="
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def _closure(names: list[str]) -> set[str]:
    """The runtime dependencies of ``names`` as installed here, with their own, markers applied."""
    from importlib.metadata import requires

    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def test_constraints_pin_every_runtime_package_within_pyproject_ranges() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = [Requirement(text) for text in project["project"]["dependencies"]]
    build = [Requirement(text) for text in project["build-system"]["requires"]]
    pins = constraints()
    missing = _closure([requirement.name for requirement in dependencies]) - set(pins)
    assert not missing, f"constraints.txt does not pin {sorted(missing)}"
    for requirement in (*dependencies, *build):
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not pinned"
        assert requirement.specifier.contains(pinned), f"{requirement.name}=={pinned} breaks {requirement}"
