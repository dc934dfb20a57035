"""A throw-away local Kannel: bearerbox + smsbox + kannel-extras' fakesmsc as the SMSC.

Used by the test suite and the benchmark to exercise the Kannel backend against the
real thing (Debian's `kannel` and `kannel-extras`). Everything runs on free ports in
a temporary directory; `stop()` ends the three processes it started.

fakesmsc plays the operator's network: it prints every message it receives (one line
per SMS part: "sender receiver text …", or "… udh … data …" for parts of a long one)
and sends the lines written to its standard input as inbound SMS (MO). For every
message sent to it, Kannel's fake SMSC driver produces a final "delivered" report,
which smsbox posts to the message's dlr-url.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"

ARRIVAL = re.compile(r"Got message \d+: <(?P<line>.*)>")


def installed() -> bool:
    return all(Path(path).exists() for path in (BEARERBOX, SMSBOX, FAKESMSC))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CONFIG = """\
group = core
admin-port = {admin_port}
admin-password = {password}
status-password = {password}
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox_port}
box-allow-ip = "127.0.0.1"
log-file = "{folder}/bearerbox.log"
log-level = {log_level}
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {smsc_port}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
sendsms-port = {sendsms_port}
log-file = "{folder}/smsbox.log"
log-level = {log_level}
mo-recode = true

group = sendsms-user
username = {username}
password = {password}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
get-url = "{mo_url}?token={token}&id=%I&from=%p&to=%P&text=%a"
max-messages = 0
"""


class LocalKannel:
    def __init__(self, *, mo_url: str, token: str, log_level: int = 1):
        self.folder = Path(tempfile.mkdtemp(prefix="kannel-"))
        self.password = "kannel-test-pw"
        self.username = "cskh"
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self.mo_url = mo_url
        self.token = token
        self.log_level = log_level
        self.processes: dict[str, subprocess.Popen] = {}
        self.fakesmsc_log = self.folder / "fakesmsc.log"

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def backend_settings(self, callback_base_url: str) -> dict:
        return {
            "SENDSMS_URL": self.sendsms_url,
            "USERNAME": self.username,
            "PASSWORD": self.password,
            "CALLBACK_BASE_URL": callback_base_url,
            "TIMEOUT": 10.0,
            "DLR_PER_PART": False,
        }

    def _start(self, name: str, args: list[str], **kwargs) -> subprocess.Popen:
        log = open(self.folder / f"{name}.out", "wb")  # noqa: SIM115 - lives with it
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=kwargs.pop("stderr", log),
            cwd=self.folder,
            start_new_session=True,
            **kwargs,
        )
        self.processes[name] = process
        return process

    def status(self) -> str:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={self.password}"
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()

    def _wait(self, condition, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited early; see {self.folder}")
            try:
                if condition():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Kannel did not get ready ({what}); see {self.folder}")

    def start(self) -> LocalKannel:
        config = self.folder / "kannel.conf"
        config.write_text(
            CONFIG.format(
                admin_port=self.admin_port,
                smsbox_port=self.smsbox_port,
                smsc_port=self.smsc_port,
                sendsms_port=self.sendsms_port,
                password=self.password,
                username=self.username,
                folder=self.folder,
                log_level=self.log_level,
                mo_url=self.mo_url,
                token=self.token,
            )
        )
        # -v 2: warnings only on the boxes' own output (debug costs them dearly).
        self._start("bearerbox", [BEARERBOX, "-v", "2", str(config)])
        self._wait(lambda: "Status: running" in self.status(), "bearerbox")
        self._start("smsbox", [SMSBOX, "-v", "2", str(config)])
        # Interactive fakesmsc: reads MO lines from stdin, logs what it receives.
        self.fakesmsc_log_handle = open(self.fakesmsc_log, "wb")  # noqa: SIM115
        self._start(
            "fakesmsc",
            [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0"],
            stdin=subprocess.PIPE,
            stderr=self.fakesmsc_log_handle,
        )
        self._wait(self._ready, "smsbox and fakesmsc connected")
        return self

    def _ready(self) -> bool:
        status = self.status()
        with socket.create_connection(("127.0.0.1", self.sendsms_port), timeout=1):
            pass
        return "(online" in status and "smsbox:" in status

    def inject_mo(self, *, sender: str, receiver: str, text: str) -> None:
        """The customer `sender` texts `text` to `receiver` (a short code)."""
        line = f"{sender} {receiver} text {text}\n".encode()
        stdin = self.processes["fakesmsc"].stdin
        stdin.write(line)
        stdin.flush()
        # fakesmsc reads stdin through stdio after select(): lines arriving together
        # would sit in its buffer unseen, so give it time to take this one alone.
        time.sleep(0.3)

    def arrivals(self) -> list[str]:
        """Every SMS part the fake network received so far, as fakesmsc printed it."""
        self.fakesmsc_log_handle.flush()
        text = self.fakesmsc_log.read_text(errors="replace")
        return [match.group("line") for match in ARRIVAL.finditer(text)]

    def arrived_numbers(self) -> list[str]:
        return [line.split(" ", 2)[1] for line in self.arrivals()]

    @staticmethod
    def decode(line: str) -> str:
        """The text of a received line (parts of a long message show their data)."""
        sender, receiver, kind, rest = line.split(" ", 3)
        if kind == "text":
            return rest
        if kind == "ucs-2":
            data = rest.replace("+", " ")
            return urllib.parse.unquote_to_bytes(data).decode("utf-16-be")
        data = rest.split(" data ", 1)[-1].replace("+", " ")
        return urllib.parse.unquote_to_bytes(data).decode("latin-1")

    def stop(self) -> None:
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        handle = getattr(self, "fakesmsc_log_handle", None)
        if handle:
            handle.close()
