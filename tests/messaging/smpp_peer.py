"""The test SMSC (`tests/smpp_peer/smsc.js`, node-smpp) as a child process."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from messaging.kannel_runner import free_port
from tests.messaging.waiting import wait_until

FOLDER = Path(__file__).resolve().parent.parent / "smpp_peer"


class SmppPeer:
    system_id = "cskh-test"
    password = "smpp-pw"

    def __init__(self):
        self.port = free_port()
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self.process: subprocess.Popen | None = None

    def start(self) -> SmppPeer:
        node = shutil.which("node")
        if node is None or not (FOLDER / "node_modules" / "smpp").exists():
            pytest.fail(
                "The SMPP peer needs Node.js and its package: "
                "npm ci --prefix tests/smpp_peer (make test does)"
            )
        self.process = subprocess.Popen(
            [
                node,
                str(FOLDER / "smsc.js"),
                str(self.port),
                self.system_id,
                self.password,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: self.seen("listening"), what="the SMPP peer to listen")
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._lock:
                self.events.append(json.loads(line))

    def seen(self, event: str) -> list[dict]:
        with self._lock:
            return [e for e in self.events if e["event"] == event]

    def inject_mo(self, *, sender: str, receiver: str, text: str) -> None:
        line = json.dumps({"from": sender, "to": receiver, "text": text})
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def backend_settings(self, **overrides) -> dict:
        return {
            "HOST": "127.0.0.1",
            "PORT": self.port,
            "SYSTEM_ID": self.system_id,
            "PASSWORD": self.password,
            "TIMEOUT": 5.0,
            **overrides,
        }

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
