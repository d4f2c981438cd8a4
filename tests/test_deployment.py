"""Checks on the deployment files: Dockerfile, .dockerignore, the systemd unit and examples/.

They read the files as an operator's tools would and compare them with the code (settings,
console script, defaults), so that a renamed variable or a dropped hardening line fails here
instead of on somebody's server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from pydantic import BaseModel

from mail2fax.environment import known_variables
from mail2fax.settings import ENV_PREFIX, Settings, SmtpSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
UNIT = ROOT / "systemd" / "mail2fax.service"
EXAMPLES = ROOT / "examples"
ENV_FILES = sorted(EXAMPLES.glob("*.env"))
EXPECTED_BACKEND = {
    "ringcentral-jwt": "ringcentral",
    "faxout": "faxout",
    "dry-run": "dry-run",
    "docker": "dry-run",
}
SHUTDOWN_TIMEOUT = float(Settings.model_fields["shutdown_timeout"].default)
DEFAULT_SMTP_PORT = int(SmtpSettings.model_fields["port"].default)


# --- helpers ------------------------------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every environment variable Settings reads: top-level fields and section__field."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        top = ENV_PREFIX + (field.alias or name).upper()
        names.add(top)
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for sub_name, sub_field in section.model_fields.items():
                names.add(f"{top}__{(sub_field.alias or sub_name).upper()}")
    return names


def console_script() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    scripts: dict[str, str] = project["scripts"]
    assert list(scripts) == ["mail2fax"]
    return "mail2fax"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            for token in shlex.split(arguments):
                key, sep, value = token.partition("=")
                assert sep, f"ENV without '=': {arguments!r}"
                env[key] = value
    return env


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not the exec (JSON) form: {arguments!r}"
    assert all(isinstance(item, str) for item in value)
    return value


def unit_sections() -> dict[str, dict[str, list[str]]]:
    """The unit as section -> key -> every value, in file order (keys may repeat in systemd)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(UNIT.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"line {number}: keep each setting on one line"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"line {number} is not Key=Value: {raw!r}"
        assert current is not None, f"line {number} comes before the first [Section]"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service() -> dict[str, list[str]]:
    return unit_sections()["Service"]


def one(key: str) -> str:
    values = service().get(key)
    assert values is not None, f"{key}= is missing from [Service]"
    assert len(values) == 1, f"{key}= is set {len(values)} times"
    return values[0]


def env_assignments(path: Path) -> list[tuple[int, str, str]]:
    assignments = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}:{number}: not VARIABLE=value: {raw!r}"
        assignments.append((number, key, value))
    return assignments


MENTION = re.compile(r"\bMAIL2FAX_[A-Z0-9_]*[A-Z0-9]")


# --- Dockerfile ---------------------------------------------------------------------------------


def test_base_image_is_a_pinned_python_slim_release() -> None:
    images = [arguments.split()[0] for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert images, "no FROM line"
    final = images[-1]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", final), final
    assert not final.endswith(":latest")


def test_libmagic_installed_without_recommends_and_lists_removed() -> None:
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    apt = [run for run in runs if "apt-get install" in run]
    assert len(apt) == 1, apt
    assert re.search(r"\blibmagic1\b", apt[0])
    assert "--no-install-recommends" in apt[0]
    assert "apt-get update" in apt[0]
    assert "rm -rf /var/lib/apt/lists/*" in apt[0], "package lists must go in the same layer"


def test_package_installed_from_the_source_tree() -> None:
    instructions = dockerfile_instructions()
    copied = " ".join(arguments for keyword, arguments in instructions if keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "constraints.txt", "mail2fax/"):
        assert needed in copied, f"{needed} is not copied into the image"
    pip = [
        arguments for keyword, arguments in instructions if keyword == "RUN" and "pip install" in arguments
    ]
    assert len(pip) == 1, pip
    assert "--no-cache-dir" in pip[0]
    # The pins apply to the build's own isolated environment too (setuptools), hence the variable.
    assert re.search(r"\bPIP_CONSTRAINT=/src/constraints\.txt pip install\b", pip[0]), pip[0]


def test_runs_as_a_non_root_user_created_in_the_image() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    users = [index for index, keyword in enumerate(keywords) if keyword == "USER"]
    assert users, "no USER line: the daemon would run as root"
    last_user = users[-1]
    user = instructions[last_user][1]
    assert user not in {"root", "0", "0:0"}
    assert not user.startswith(("root:", "0:"))
    installs = [
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and ("pip install" in arguments or "apt-get install" in arguments)
    ]
    assert installs
    assert max(installs) < last_user, "USER must come after the installation steps"
    created = [
        arguments for keyword, arguments in instructions if keyword == "RUN" and "useradd" in arguments
    ]
    assert len(created) == 1
    # By number, so that Kubernetes' runAsNonRoot can tell without reading /etc/passwd.
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: give the uid as a number"
    assert gid.isdigit(), f"USER {user}: give the gid as a number"
    assert int(uid) >= 10000, "a uid above the host's own users"
    assert re.search(rf"useradd [^&]*--uid {uid}\b", created[0]), "USER is not the account created"
    assert re.search(rf"groupadd [^&]*--gid {gid}\b", created[0]), "USER's group is not the one created"


def test_data_volume_and_environment() -> None:
    instructions = dockerfile_instructions()
    env = dockerfile_env()
    volumes = [exec_form(arguments) for keyword, arguments in instructions if keyword == "VOLUME"]
    assert volumes == [["/var/lib/mail2fax"]]
    assert env["MAIL2FAX_DATA_DIR"] == "/var/lib/mail2fax"
    assert env["MAIL2FAX_SMTP__HOST"] == "0.0.0.0"
    assert env["MAIL2FAX_METRICS__HOST"] == "0.0.0.0"
    assert env["MAIL2FAX_METRICS__PORT"].isdigit()
    unknown = {name for name in env if name.startswith(ENV_PREFIX)} - settings_variables()
    assert not unknown, f"the image sets variables Settings does not read: {sorted(unknown)}"


def test_exposed_ports() -> None:
    exposed = {
        port
        for keyword, arguments in dockerfile_instructions()
        if keyword == "EXPOSE"
        for port in arguments.split()
    }
    assert str(DEFAULT_SMTP_PORT) in exposed
    assert dockerfile_env()["MAIL2FAX_METRICS__PORT"] in exposed


def test_command_is_mail2fax_serve() -> None:
    instructions = dockerfile_instructions()
    entrypoints = [exec_form(arguments) for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    commands = [exec_form(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    assert entrypoints
    assert commands
    assert entrypoints[-1] + commands[-1] == [console_script(), "serve"]


def test_dockerignore_keeps_secrets_and_clutter_out_but_not_the_sources() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (".git", ".venv", "var", ".env", ".pytest_cache", ".mypy_cache"):
        assert excluded in patterns, f"{excluded} is sent to the Docker daemon"
    for needed in ("pyproject.toml", "README.md", "mail2fax", "mail2fax/settings.py"):
        hits = [pattern for pattern in patterns if fnmatch.fnmatch(needed, pattern.lstrip("/"))]
        assert not hits, f"{needed} is needed by the build but ignored by {hits}"


# --- systemd unit -------------------------------------------------------------------------------

HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "RemoveIPC": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
}
REPEATABLE = {"Environment", "SystemCallFilter", "LoadCredential"}


def test_unit_is_a_notify_service_run_by_the_mail2fax_user() -> None:
    assert one("Type") == "notify"
    assert one("User") == "mail2fax"
    assert one("Group") == "mail2fax"
    assert one("StateDirectory") == "mail2fax"
    assert one("StateDirectoryMode") == "0700"
    assert one("UMask") == "0077"
    assert "MAIL2FAX_DATA_DIR=/var/lib/mail2fax" in service()["Environment"]
    assert one("Restart") == "on-failure"
    assert one("KillSignal") == "SIGTERM"
    assert unit_sections()["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_unit_user_is_the_one_sysusers_creates() -> None:
    entries = [
        shlex.split(line)
        for line in (ROOT / "systemd" / "mail2fax.sysusers").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert entries == [
        ["u", one("User"), "-", "mail2fax SMTP-to-fax bridge", "/var/lib/mail2fax", "/usr/sbin/nologin"]
    ]


def test_unit_runs_mail2fax_serve_with_the_documented_env_file() -> None:
    argv = shlex.split(one("ExecStart"))
    assert Path(argv[0]).is_absolute()
    assert Path(argv[0]).name == console_script()
    assert argv[1:] == ["--env-file", "/etc/mail2fax/mail2fax.env", "serve"]
    # mail2fax reads the file itself, as every command does; systemd's own parser would differ.
    assert "EnvironmentFile" not in service()


@pytest.mark.parametrize(("key", "value"), sorted(HARDENING.items()))
def test_unit_hardening(key: str, value: str) -> None:
    assert one(key) == value


def test_unit_address_families_and_capabilities() -> None:
    assert set(one("RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert one("CapabilityBoundingSet").split() == ["CAP_NET_BIND_SERVICE"]
    assert one("AmbientCapabilities").split() == ["CAP_NET_BIND_SERVICE"]


def test_unit_stop_timeout_outlasts_the_daemon_drain() -> None:
    value = one("TimeoutStopSec")
    match = re.fullmatch(r"(\d+)s?", value)
    assert match, f"TimeoutStopSec={value}: write plain seconds"
    assert SHUTDOWN_TIMEOUT < int(match.group(1)) <= SHUTDOWN_TIMEOUT + 60


def test_unit_sets_each_key_once() -> None:
    for section, keys in unit_sections().items():
        repeated = {key for key, values in keys.items() if len(values) > 1} - REPEATABLE
        assert not repeated, f"[{section}] sets {sorted(repeated)} more than once"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own parser when it is installed; otherwise only the line-level checks above.

    verify exits 0 even for unknown keys and bad values, so its output is read as well. The
    ExecStart binary is swapped for one that exists, since mail2fax need not be installed.
    """
    text = UNIT.read_text(encoding="utf-8")
    exec_line = f"ExecStart={one('ExecStart')}"
    assert text.count(exec_line) == 1
    tool = shutil.which("systemd-analyze")
    if tool is None:
        # No systemd on this machine: the static checks in this module are all there is.
        assert unit_sections().keys() == {"Unit", "Service", "Install"}
        return

    def verify(content: str) -> list[str]:
        unit = tmp_path / "mail2fax.service"
        unit.write_text(content, encoding="utf-8")
        result = subprocess.run(
            [tool, "verify", "--man=no", str(unit)],
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )
        output = (result.stdout + result.stderr).splitlines()
        problems = [line for line in output if "mail2fax.service" in line]
        if result.returncode != 0 and not problems:
            problems = output or [f"exit status {result.returncode}"]
        return problems

    runnable = text.replace(exec_line, f"ExecStart={sys.executable} serve")
    assert verify(runnable) == []
    # The same run must notice a broken unit, or the assertion above proves nothing.
    broken = runnable.replace("\nProtectSystem=strict\n", "\nProtectSytem=strict\n")
    assert any("ProtectSytem" in line for line in verify(broken))


# --- examples -----------------------------------------------------------------------------------


def test_settings_walk_finds_nested_and_aliased_variables() -> None:
    names = settings_variables()
    assert {"MAIL2FAX_BACKEND", "MAIL2FAX_SMTP__TLS_MIN_VERSION", "MAIL2FAX_NOTIFY__FROM"} <= names
    assert "MAIL2FAX_NOTIFY__FROM_" not in names


def test_the_example_env_files_exist() -> None:
    assert {path.stem for path in ENV_FILES} == set(EXPECTED_BACKEND)


@pytest.mark.parametrize("path", ENV_FILES, ids=[path.name for path in ENV_FILES])
def test_env_example_uses_only_real_variables(path: Path) -> None:
    names = settings_variables()
    for number, key, _ in env_assignments(path):
        assert key in names, f"{path.name}:{number}: {key} is not a mail2fax setting"


@pytest.mark.parametrize("path", ENV_FILES, ids=[path.name for path in ENV_FILES])
def test_env_example_reads_the_same_everywhere(path: Path) -> None:
    """systemd, docker --env-file and python-dotenv agree only on plain unquoted values."""
    for number, key, value in env_assignments(path):
        where = f"{path.name}:{number} ({key})"
        assert key == key.strip(), f"{where}: space before '='"
        assert value == value.strip(), f"{where}: space after '='"
        assert not value.startswith(("'", '"')), f"{where}: docker keeps the quotes"
        assert " #" not in value, f"{where}: a comment after a value becomes part of it"
        assert "\\" not in value, f"{where}: systemd treats backslashes as escapes"
        assert "${" not in value, f"{where}: python-dotenv would expand it"


# docker.env names files that exist only in the container: tests/test_container.py loads it there.
HOST_ENV_FILES = [path for path in ENV_FILES if path.name != "docker.env"]


@pytest.mark.parametrize("path", HOST_ENV_FILES, ids=[path.name for path in HOST_ENV_FILES])
def test_env_example_loads(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(_env_file=path)
    assert settings.backend == EXPECTED_BACKEND[path.stem]


def test_every_mentioned_variable_exists() -> None:
    names = known_variables()
    files = [DOCKERFILE, UNIT, *sorted(p for p in EXAMPLES.rglob("*") if p.is_file())]
    for path in files:
        mentioned = set(MENTION.findall(path.read_text(encoding="utf-8")))
        unknown = mentioned - names
        assert not unknown, f"{path.relative_to(ROOT)} mentions unknown variables {sorted(unknown)}"


def test_postfix_transport_points_at_the_listener() -> None:
    entries = [
        line.split()
        for line in (EXAMPLES / "postfix" / "transport").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert entries == [["fax.example.com", f"smtp:[127.0.0.1]:{DEFAULT_SMTP_PORT}"]]
    main_cf = [
        line
        for line in (EXAMPLES / "postfix" / "main.cf").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "transport_maps = hash:/etc/postfix/transport" in main_cf
    assert not [line for line in main_cf if line.startswith(("relay_domains", "mydestination"))]


def test_docker_run_example_matches_the_image() -> None:
    script = (EXAMPLES / "docker-run.sh").read_text(encoding="utf-8")
    command = " ".join(script.replace("\\\n", " ").split())
    assert f"-p {DEFAULT_SMTP_PORT}:{DEFAULT_SMTP_PORT}" in command
    assert "-v mail2fax-data:/var/lib/mail2fax" in command
    assert "--env-file examples/docker.env" in command
    stop = re.search(r"--stop-timeout (\d+)", command)
    assert stop
    assert int(stop.group(1)) > SHUTDOWN_TIMEOUT


@pytest.mark.parametrize("name", ["docker-run.sh", "send-test-fax.sh"])
def test_shell_examples_parse(name: str) -> None:
    path = EXAMPLES / name
    assert path.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert os.access(path, os.X_OK), f"{name} is not executable"
    result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_send_test_fax_script_compiles() -> None:
    path = EXAMPLES / "send_test_fax.py"
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


class _Recorder:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


async def test_send_test_fax_script_delivers_a_pdf(tmp_path: Path) -> None:
    recorder = _Recorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(recorder), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    document = tmp_path / "letter.pdf"
    document.write_bytes(b"%PDF-1.4\n% a test document\n")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "send_test_fax.py"),
            "14155551212",
            str(document),
            "127.0.0.1",
            str(port),
            "--from",
            "scanner@example.com",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        server.close()
        await server.wait_closed()
    assert process.returncode == 0, stderr.decode()
    assert b"14155551212@fax.local" in stdout
    [envelope] = recorder.envelopes
    assert envelope.mail_from == "scanner@example.com"
    assert envelope.rcpt_tos == ["14155551212@fax.local"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "letter.pdf"
    assert attachment.get_content() == document.read_bytes()
