"""Several bridges on one PostgreSQL queue, as ``mail2fax serve`` runs them, on the RingCentral emulator.

Each bridge has its own data directory and SMTP port; they share only the database. Mails
accepted by one bridge are sent by whichever bridge claims them first, each exactly once, and
each sender gets one status mail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from mail2fax.queue.postgres import PostgresStore
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.daemon_process import READY
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

TOKEN = re.compile(r"token-(\d{3})")
STORE_READ = re.compile(r"/message-store/([0-9,]+)$")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def test_two_bridges_share_the_rate_limits_fax_each_mail_once_and_tell_each_sender_once(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay, pg_url: str
) -> None:
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    # RingCentral's Heavy limit (10 requests), in a window short enough for a test: the two
    # bridges must share it, each on its own it would send 20 in a window.
    rc.set_limit("Heavy", 10, 2)
    rc.set_limit("Auth", 5, 2)
    overrides = ringcentral_overrides(rc, limit_window=2, listing_grace=1)
    bridges = [
        settings_for(tmp_path / name, relay, database_url=pg_url, **overrides) for name in ("one", "two")
    ]
    async with running(bridges[0]) as one, running(bridges[1]) as two:
        ports = [one.smtp_port, two.smtp_port]

        async def send(token: int) -> None:
            message = mail(
                subject=f"Bridges token-{token:03d}",
                attachments=[("doc.pdf", pdf_bytes(text=f"token {token}"), "application/pdf")],
            )
            port = ports[token % 2]
            assert port is not None
            transaction = await deliver(port, bytes(message), recipients=["14155551212@fax.local"])
            assert transaction.accepted, transaction.final

        await asyncio.gather(*(send(token) for token in range(24)))
        await relay.wait_for(24, timeout=60)
        await wait_until(lambda: len(rc.faxes) == 24)
    assert rc.count_429("Heavy") == 0
    assert rc.count_429("Auth") == 0
    faxed = Counter(int(TOKEN.search(fax.json["coverPageText"])[1]) for fax in rc.faxes)
    assert faxed == Counter(range(24))
    told = Counter(int(TOKEN.search(captured.body)[1]) for captured in relay.mails)
    assert told == Counter(range(24))
    assert all(captured.subject.startswith("Fax to +14155551212 sent") for captured in relay.mails)


def status_readers(rc: RingCentralEmulator) -> dict[str, list[str]]:
    """For each fax id, the bridges (told apart by their access tokens) that read its status by
    id, in the order of the reads."""
    readers: dict[str, list[str]] = {}
    for request in rc.requests_in("Light"):
        named = STORE_READ.search(request.path)
        if request.method == "GET" and named:
            for fax_id in named[1].split(","):
                readers.setdefault(fax_id, []).append(request.headers.get("authorization", ""))
    return readers


async def test_three_bridges_read_each_fax_status_from_one_bridge(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay, pg_url: str
) -> None:
    # The faxes stay queued at RingCentral and out of its listings, so each tracking cycle reads
    # them by id: every read names the faxes the reading bridge tracks. Before tracking was
    # claimed, all three bridges read every fax in every cycle.
    rc.listing_delay = 3600
    rc.set_limit("Heavy", 10, 2)
    overrides = ringcentral_overrides(rc, limit_window=2)
    names = ("one", "two", "three")
    settings = [settings_for(tmp_path / name, relay, database_url=pg_url, **overrides) for name in names]
    async with running(settings[0]) as one, running(settings[1]) as two, running(settings[2]) as three:
        ports = [one.smtp_port, two.smtp_port, three.smtp_port]
        for token, port in enumerate(ports * 3):
            assert port is not None
            message = mail(
                subject=f"Tracked token-{token:03d}",
                attachments=[("doc.pdf", pdf_bytes(text=f"token {token}"), "application/pdf")],
            )
            transaction = await deliver(port, bytes(message), recipients=["14155551212@fax.local"])
            assert transaction.accepted, transaction.final
        await wait_until(lambda: len(rc.faxes) == 9, timeout=30)
        fax_ids = {fax.id for fax in rc.faxes}
        await wait_until(
            lambda: all(len(status_readers(rc).get(fax_id, [])) >= 10 for fax_id in fax_ids), timeout=30
        )
        readers = status_readers(rc)
        for fax_id in fax_ids:
            rc.complete(fax_id)
        told = await relay.wait_for(9, timeout=30)
    # One bridge at a time: once a bridge has handed a fax on, it never reads that fax again.
    turns = {fax_id: [reader for reader, _ in itertools.groupby(readers[fax_id])] for fax_id in fax_ids}
    assert all(len(turn) == len(set(turn)) for turn in turns.values()), turns
    assert sorted(int(TOKEN.search(m.body)[1]) for m in told) == list(range(9))


async def test_queue_bridges_lists_the_bridges_alive(
    tmp_path: Path, relay: CaptureRelay, pg_url: str
) -> None:
    settings = [
        settings_for(tmp_path / name, relay, database_url=pg_url, lease=1.5) for name in ("one", "two")
    ]
    looking = await PostgresStore.open(pg_url, tmp_path / "look")
    try:

        async def beating(count: int) -> bool:
            return len(await looking.bridges()) == count

        async with running(settings[0]):
            async with running(settings[1]):
                await eventually(lambda: beating(2))
                listed = await run_cli(settings[0], "queue", "bridges", "--json")
                assert listed.code == 0, listed.stderr
                assert [bridge["alive"] for bridge in listed.json] == [True, True]
                assert {bridge["pid"] for bridge in listed.json} == {os.getpid()}
                shown = await run_cli(settings[1], "queue", "bridges")
                assert shown.stdout.splitlines()[0].split() == [
                    "HOST",
                    "PID",
                    "STARTED",
                    "(UTC)",
                    "LAST",
                    "SEEN",
                    "STATE",
                ]
                assert [line.split()[-1] for line in shown.stdout.splitlines()[1:]] == ["alive", "alive"]
            # A bridge that stops cleanly leaves the list at once.
            listed = await run_cli(settings[0], "queue", "bridges", "--json")
            assert len(listed.json) == 1
    finally:
        await looking.close()
    alone = settings_for(tmp_path / "alone", relay)
    async with running(alone):
        solo = await run_cli(alone, "queue", "bridges")
    assert solo.code == 0
    assert solo.stdout.strip() == "one daemon owns this queue (SQLite): no bridges share it"


@pytest.mark.timeout(120)
async def test_the_two_bridges_example_runs_and_cleans_up(relay: CaptureRelay) -> None:
    """examples/two-bridges.sh as a person runs it: PostgreSQL and two bridges, mail to both."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAIL2FAX_")}
    env.update(
        MAIL2FAX=str(Path(sys.executable).with_name("mail2fax")),
        PORTS="0 0",
        MAIL2FAX_RELAY__PORT=str(relay.port),
        MAIL2FAX_SMTP__HOSTNAME="mail2fax.test",
        MAIL2FAX_NOTIFY__FROM="mail2fax@gateway.test",
        MAIL2FAX_NOTIFY__INTERVAL="0.05",
        MAIL2FAX_SUBMIT__INTERVAL="0.2",
    )
    script = await asyncio.create_subprocess_exec(
        "bash",
        str(EXAMPLES / "two-bridges.sh"),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert script.stderr is not None
    ports: list[int] = []
    lines: list[str] = []
    work = ""
    try:
        async with asyncio.timeout(60):
            while len(ports) < 2:
                line = (await script.stderr.readline()).decode(errors="replace")
                assert line, "the example stopped:\n" + "".join(lines)
                lines.append(line)
                if ready := READY.search(line):
                    ports.append(int(ready[1]))
                if found := re.search(r"host=(/tmp/mail2fax-bridges\.\w+)", line):
                    work = found[1]
        for number, port in enumerate(ports * 2):
            message = mail(
                subject=f"Example token-{number:03d}", attachments=[("a.pdf", pdf_bytes(), "application/pdf")]
            )
            transaction = await deliver(port, bytes(message), recipients=["14155551212@fax.local"])
            assert transaction.accepted, transaction.final
        told = await relay.wait_for(4, timeout=60)
        assert sorted(int(TOKEN.search(m.body)[1]) for m in told) == [0, 1, 2, 3]
        # What the script printed is what an operator uses: the pid to kill, the queue command.
        text = "".join(lines)
        pid = int(re.search(r"bridge 1: pid (\d+),", text)[1])
        listing = re.search(r"the shared queue: (.+)", text)[1].split()
        os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(30):
            while f"bridge 1 (pid {pid}) ended with status 137" not in line:
                line = (await script.stderr.readline()).decode(errors="replace")
                assert line, "the example stopped:\n" + "".join(lines)
        assert "to start it again" in line
        queue = await asyncio.create_subprocess_exec(
            *listing, "--json", env=env, stdout=asyncio.subprocess.PIPE
        )
        jobs = json.loads((await queue.communicate())[0])
        assert sorted(job["state"] for job in jobs) == ["sent"] * 4
    finally:
        if script.returncode is None:
            script.terminate()
        await asyncio.wait_for(script.wait(), timeout=60)
    assert work
    assert not Path(work).exists(), "the example left its temporary directory behind"


async def test_the_two_bridges_example_names_a_missing_mail2fax() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAIL2FAX")}
    env.update(MAIL2FAX="no-such-mail2fax")
    script = await asyncio.create_subprocess_exec(
        "bash", str(EXAMPLES / "two-bridges.sh"), env=env, stderr=asyncio.subprocess.PIPE
    )
    _, error = await asyncio.wait_for(script.communicate(), timeout=30)
    assert script.returncode == 1
    assert error.decode().splitlines() == [
        "two-bridges.sh: no-such-mail2fax is not installed here: activate the virtualenv it is in "
        "(. .venv/bin/activate) or set MAIL2FAX=/path/to/bin/mail2fax"
    ]
