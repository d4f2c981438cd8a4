"""Postfix as a compared system: its own instance in a temporary directory, never the system's mail.

smtpd listens on a free loopback port; cleanup writes and fsyncs each queue file before ``250``
(Postfix's default), and a discard transport delivers the fax domain, so what is measured is
durable intake. The instance has its own main.cf and master.cf; ``postfix -c DIR start`` and
``stop`` run it. Its CPU time is that of the master's process tree, exited daemons included
(the master waits for them, so their time is in its children's account).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.mails import RECIPIENT

POSTFIX = "/usr/sbin/postfix"
DAEMONS = Path("/usr/lib/postfix/sbin")

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
command_directory = /usr/sbin
daemon_directory = {daemons}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench
myorigin = postfix.bench
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = {domain}
transport_maps = inline:{{ {domain}=discard: }}
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
local_recipient_maps =
alias_maps =
alias_database =
maillog_file = {root}/maillog
default_process_limit = 100
smtputf8_enable = no
biff = no
"""


def available() -> bool:
    """Postfix's programs and Debian's daemon directory, and the load generator Postfix ships."""
    return (
        Path(POSTFIX).is_file() and (DAEMONS / "master").is_file() and shutil.which("smtp-source") is not None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostfixInstance:
    root: Path
    port: int
    name: str = "postfix"

    @property
    def pid(self) -> int:
        return int((self.root / "data" / "master.lock").read_text().split()[0])

    async def stop(self) -> int:
        await _run(POSTFIX, "-c", str(self.root), "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        return 0


async def _run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {output.decode(errors='replace')[-2000:]}")
    return output.decode(errors="replace")


def _instance_directory(data_root: Path, port: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="postfix-bench-", dir=data_root))
    root.chmod(0o755)
    (root / "queue").mkdir()
    (root / "data").mkdir()
    shutil.chown(root / "data", "postfix")
    (root / "main.cf").write_text(
        MAIN_CF.format(root=root, daemons=DAEMONS, domain=RECIPIENT.partition("@")[2])
    )
    (root / "master.cf").write_text(MASTER_CF.format(port=port))
    return root


async def start_postfix(data_root: Path) -> PostfixInstance:
    port = free_port()
    root = _instance_directory(data_root, port)
    await _run(POSTFIX, "-c", str(root), "check")
    await _run(POSTFIX, "-c", str(root), "start")
    instance = PostfixInstance(root, port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return instance
    await instance.stop()
    raise RuntimeError("postfix did not start listening")


async def smtp_source_rate(port: int, *, sessions: int, mails: int, size: int = 2048) -> float:
    """Postfix's own load generator against a port: mails a second over ``mails`` mails."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    await _run(
        "smtp-source",
        *("-s", str(sessions), "-m", str(mails), "-l", str(size)),
        *("-f", "scanner@bench.test", "-t", RECIPIENT),
        f"127.0.0.1:{port}",
    )
    return mails / (loop.time() - began)
