"""Settings problems stop the daemon with one line naming the variable; secrets never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
