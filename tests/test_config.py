"""Settings problems stop the daemon with one line naming the variable; secrets never shown."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail2fax.settings import shown_database_url
from tests.raw_smtp import Certificates

SECRET = "s3cr3t-value-never-shown"


def run(tmp_path: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAIL2FAX_")}
    clean["MAIL2FAX_DATA_DIR"] = str(tmp_path / "var")
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "mail2fax", command],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "MAIL2FAX_BACKEND is required"),
        ({"MAIL2FAX_BACKEND": "fax-machine"}, "MAIL2FAX_BACKEND"),
        ({"MAIL2FAX_BACKEND": "ringcentral"}, "MAIL2FAX_RINGCENTRAL__CLIENT_ID"),
        (
            {
                "MAIL2FAX_BACKEND": "ringcentral",
                "MAIL2FAX_RINGCENTRAL__CLIENT_ID": "id",
                "MAIL2FAX_RINGCENTRAL__CLIENT_SECRET": SECRET,
            },
            "MAIL2FAX_RINGCENTRAL__JWT",
        ),
        (
            {"MAIL2FAX_BACKEND": "faxout", "MAIL2FAX_FAXOUT__USERNAME": "16505550100"},
            "MAIL2FAX_FAXOUT__PASSWORD",
        ),
        ({"MAIL2FAX_BACKEND": "dry-run", "MAIL2FAX_SMTP__PORT": "smtp"}, "MAIL2FAX_SMTP__PORT"),
        ({"MAIL2FAX_BACKEND": "dry-run", "MAIL2FAX_FAX_DOMAINS": "fax.local"}, "MAIL2FAX_FAX_DOMAINS"),
        ({"MAIL2FAX_BACKEND": "dry-run", "MAIL2FAX_COVER": "fancy|cover"}, "MAIL2FAX_COVER"),
        (
            {"MAIL2FAX_BACKEND": "dry-run", "MAIL2FAX_SMTP__TLS_CERT": "/nowhere.pem"},
            "MAIL2FAX_SMTP__TLS_KEY",
        ),
        (
            {
                "MAIL2FAX_BACKEND": "dry-run",
                "MAIL2FAX_RETRY__MIN_BACKOFF": "600",
                "MAIL2FAX_RETRY__MAX_BACKOFF": "60",
            },
            "MAIL2FAX_RETRY__MIN_BACKOFF",
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_bad_settings_stop_with_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], named: str, command: str
) -> None:
    result = run(tmp_path, command, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_check_config_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "MAIL2FAX_BACKEND=ringcentral\n"
        "MAIL2FAX_RINGCENTRAL__CLIENT_ID=my-client\n"
        f"MAIL2FAX_RINGCENTRAL__CLIENT_SECRET={SECRET}\n"
        f"MAIL2FAX_RINGCENTRAL__JWT={SECRET}-jwt\n"
        f"MAIL2FAX_RELAY__PASSWORD={SECRET}-relay\n"
    )
    result = run(tmp_path, "check-config", MAIL2FAX_SMTP__PORT="2526")
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout
    assert '"client_id": "my-client"' in result.stdout
    assert '"port": 2526' in result.stdout
    assert result.stdout.count("**********") == 3


# --- check-config runs serve's checks, opening what the settings name ----------------------------


def certificate_pair(tmp_path: Path) -> tuple[Path, Path]:
    certificates = Certificates.create(tmp_path)
    return certificates.cert, certificates.key


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("malformed hash", "MAIL2FAX_AUTH__USERS: user 'scanner': not a scrypt hash"),
        ("missing users file", "MAIL2FAX_AUTH__USERS_FILE: cannot read"),
        ("bad users file", "MAIL2FAX_AUTH__USERS_FILE"),
        ("swapped certificate and key", "MAIL2FAX_SMTP__TLS_CERT and __TLS_KEY"),
        ("metrics on the SMTP port", "MAIL2FAX_METRICS__PORT: port 2599 is already MAIL2FAX_SMTP__PORT"),
        ("TLS on the SMTP port", "MAIL2FAX_SMTP__TLS_PORT: port 2599 is already MAIL2FAX_SMTP__PORT"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_check_config_refuses_what_serve_refuses(tmp_path: Path, case: str, named: str, command: str) -> None:
    cert, key = certificate_pair(tmp_path)
    users = tmp_path / "users"
    users.write_text("scanner:not-a-hash\n")
    env = {"MAIL2FAX_BACKEND": "dry-run", "MAIL2FAX_SMTP__PORT": "2599"}
    env.update(
        {
            "malformed hash": {"MAIL2FAX_AUTH__USERS": '{"scanner": "scrypt$1$2$3"}'},
            "missing users file": {"MAIL2FAX_AUTH__USERS_FILE": str(tmp_path / "nowhere")},
            "bad users file": {"MAIL2FAX_AUTH__USERS_FILE": str(users)},
            "swapped certificate and key": {
                "MAIL2FAX_SMTP__TLS_CERT": str(key),
                "MAIL2FAX_SMTP__TLS_KEY": str(cert),
            },
            "metrics on the SMTP port": {
                "MAIL2FAX_METRICS__PORT": "2599",
                "MAIL2FAX_METRICS__HOST": "0.0.0.0",
            },
            "TLS on the SMTP port": {
                "MAIL2FAX_SMTP__TLS_CERT": str(cert),
                "MAIL2FAX_SMTP__TLS_KEY": str(key),
                "MAIL2FAX_SMTP__TLS_PORT": "2599",
            },
        }[case]
    )
    result = run(tmp_path, command, **env)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert named in line
    assert "Traceback" not in result.stderr


def test_check_config_passes_a_matching_certificate_and_key(tmp_path: Path) -> None:
    cert, key = certificate_pair(tmp_path)
    result = run(
        tmp_path,
        "check-config",
        MAIL2FAX_BACKEND="dry-run",
        MAIL2FAX_SMTP__TLS_CERT=str(cert),
        MAIL2FAX_SMTP__TLS_KEY=str(key),
        MAIL2FAX_SMTP__TLS_MIN_VERSION="1.0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "mail2fax: warning: MAIL2FAX_SMTP__TLS_MIN_VERSION=1.0: TLS 1.0 is obsolete and weak; keep this "
        "listener on a local network and set 1.2 once the old devices are gone"
    ]


# --- names that are not settings --------------------------------------------------------------


def test_misspelt_variables_are_named_with_the_closest_setting(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MAIL2FAX_BACKEND=dry-run\nMAIL2FAX_SMPT__PORT=2526\n")
    result = run(tmp_path, "check-config", MAIL2FAX_RELAY_HOST="relay.example.com")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "mail2fax: warning: MAIL2FAX_RELAY_HOST (in the environment) is not a mail2fax setting and is "
        "ignored; did you mean MAIL2FAX_RELAY__HOST?",
        f"mail2fax: warning: MAIL2FAX_SMPT__PORT (in {Path('.env')}) is not a mail2fax setting and is "
        "ignored; did you mean MAIL2FAX_SMTP__PORT?",
    ]


def test_a_missing_setting_points_at_its_misspelling(tmp_path: Path) -> None:
    result = run(tmp_path, "check-config", MAIL2FAX_BACKNED="dry-run")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mail2fax: configuration error: MAIL2FAX_BACKEND is required "
        "(MAIL2FAX_BACKNED is set in the environment: a misspelling?)"
    )


def test_a_misspelt_nested_variable_is_refused_with_the_closest_name(tmp_path: Path) -> None:
    result = run(tmp_path, "check-config", MAIL2FAX_BACKEND="dry-run", MAIL2FAX_SMTP__PROT="25")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mail2fax: configuration error: MAIL2FAX_SMTP__PROT: Extra inputs are not permitted; "
        "did you mean MAIL2FAX_SMTP__PORT?"
    )


# --- --env-file and MAIL2FAX_ENV_FILE -----------------------------------------------------------


def run_args(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAIL2FAX_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "mail2fax", *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "how", ["--env-file before the command", "--env-file after the command", "MAIL2FAX_ENV_FILE"]
)
def test_the_env_file_is_read_from_anywhere(tmp_path: Path, how: str) -> None:
    etc, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    etc.mkdir()
    elsewhere.mkdir()
    env_file = etc / "mail2fax.env"
    env_file.write_text(
        f"MAIL2FAX_BACKEND=dry-run\nMAIL2FAX_DATA_DIR={tmp_path / 'var'}\nMAIL2FAX_SMTP__PORT=2527\n"
    )
    (elsewhere / ".env").write_text("MAIL2FAX_SMTP__PORT=1\n")  # not read when a file is named
    args, env = {
        "--env-file before the command": (["--env-file", str(env_file), "check-config"], {}),
        "--env-file after the command": (["check-config", "--env-file", str(env_file)], {}),
        "MAIL2FAX_ENV_FILE": (["check-config"], {"MAIL2FAX_ENV_FILE": str(env_file)}),
    }[how]
    result = run_args(elsewhere, *args, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["smtp"]["port"] == 2527


def test_a_named_env_file_must_exist(tmp_path: Path) -> None:
    result = run_args(tmp_path, "--env-file", str(tmp_path / "missing.env"), "queue", "list")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"mail2fax: configuration error: env file {tmp_path / 'missing.env'}: no such file"
    )


def test_version(tmp_path: Path) -> None:
    result = run_args(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mail2fax {version('mail2fax')}"


# --- fatal start-up errors: one line, in either log format ------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path, log_format: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            tmp_path,
            "serve",
            MAIL2FAX_BACKEND="dry-run",
            MAIL2FAX_SMTP__PORT=str(port),
            MAIL2FAX_LOG_FORMAT=log_format,
            MAIL2FAX_RELAY_HOST="relay.example.com",
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert "uvloop" not in result.stderr
    problem = f"cannot start: MAIL2FAX_SMTP__PORT: cannot listen on 127.0.0.1:{port}: Address already in use"
    if log_format == "json":
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        assert (entries[-1]["level"], entries[-1]["message"]) == ("CRITICAL", problem)
        messages = [entry["message"] for entry in entries]
    else:
        assert lines[-1].endswith(f"CRITICAL mail2fax: {problem}")
        messages = lines
    assert sum("MAIL2FAX_SMTP__PORT" in line for line in messages) == 1
    warned = [line for line in messages if "MAIL2FAX_RELAY_HOST" in line]
    assert len(warned) == 1
    assert warned[0].endswith("did you mean MAIL2FAX_RELAY__HOST?")


def test_check_config_shows_which_database_but_not_its_password(tmp_path: Path, pg_url: str) -> None:
    url = pg_url.replace("postgresql://", f"postgresql://postgres:{SECRET}@", 1)
    result = run(
        tmp_path,
        "check-config",
        MAIL2FAX_BACKEND="dry-run",
        MAIL2FAX_DATABASE_URL=f"{url}&sslpassword={SECRET}",
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    shown = json.loads(result.stdout)["database_url"]
    assert shown.startswith("postgresql://postgres:**********@")
    assert shown.endswith("&sslpassword=**********")
    assert pg_url.rsplit("/", 1)[1].split("?")[0] in shown  # the database's name


@given(
    password=st.text(min_size=6, max_size=40),
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    hosts=st.lists(st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?", fullmatch=True), min_size=1, max_size=3),
    where=st.sampled_from(["userinfo", "password", "sslpassword", "PassWord"]),
)
def test_a_database_url_is_never_shown_with_its_password(
    password: str, user: str, hosts: list[str], where: str
) -> None:
    encoded = quote(password, safe="")
    if where == "userinfo":
        url = f"postgresql://{user}:{encoded}@{','.join(hosts)}/mail2fax?sslmode=require"
    else:
        url = f"postgresql://{user}@{','.join(hosts)}/mail2fax?sslmode=require&{where}={encoded}"
    shown = shown_database_url(url)
    assert encoded not in shown and password not in shown
    assert shown == "**********" or ("sslmode=require" in shown and ",".join(hosts) in shown)
