"""Zalo's ZNS and OAuth endpoints played by real HTTP servers on 127.0.0.1, for tests.

It records every request as it arrives (path, headers, JSON body) and answers each
with the next scripted answer, or with success and a fresh msg_id when none is left.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0


class _LocalServer:
    """A threaded HTTP server on a free port of 127.0.0.1 serving `_handler()`."""

    PATH = "/"

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.PATH}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeZns(_LocalServer):
    PATH = "/message/template"

    def __init__(self):
        self.received: list[Received] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._sent = 0
        super().__init__()

    def answer_error(self, code: int, message: str) -> None:
        self.answer(body={"error": code, "message": message})

    def answer(
        self, *, status: int = 200, body: dict | bytes = b"", delay: float = 0.0
    ) -> None:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        with self._lock:
            self._answers.append(Answer(status, body, delay))

    def tracking_ids(self) -> list[str]:
        return [request.body.get("tracking_id") for request in self.received]

    def _next_answer(self) -> Answer:
        with self._lock:
            if self._answers:
                return self._answers.pop(0)
            self._sent += 1
            return Answer(
                body=json.dumps(
                    {
                        "error": 0,
                        "message": "Success",
                        "data": {
                            "msg_id": f"zns-msg-{self._sent}",
                            "sent_time": str(int(time.time() * 1000)),
                            "quota": {"dailyQuota": "500", "remainingQuota": "499"},
                        },
                    }
                ).encode()
            )

    def _handler(self):
        zns = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unreadable": raw.decode("utf-8", "replace")}
                with zns._lock:
                    zns.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                answer = zns._next_answer()
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *args):
                pass

        return Handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{FakeZns.PATH}"


class FakeZaloOAuth(_LocalServer):
    """Zalo's OAuth v4 endpoint for Official Accounts, on 127.0.0.1.

    It knows which refresh tokens it issued and, like Zalo, takes each one once: a
    valid one answers a new pair (access-N, refresh-N+1) and is used up; a spent or
    unknown one is refused. `uses` counts every refresh token presented, so a test
    sees a token spent twice. `refuse` scripts the next answer as an error.
    """

    PATH = "/v4/oa/access_token"
    EXPIRES_IN = "90000"

    def __init__(self, *, first_refresh_token: str = "refresh-1", delay: float = 0.0):
        self.received: list[Received] = []
        self.uses: Counter[str] = Counter()
        self.delay = delay
        self._valid = {first_refresh_token}
        self._issued = 0
        self._refusals: list[dict] = []
        self._lock = threading.Lock()
        super().__init__()

    def refuse(
        self, code: int = -14014, name: str = "Invalid refresh token", text: str = ""
    ) -> None:
        with self._lock:
            self._refusals.append(
                {"error": code, "error_name": name, "error_description": text}
            )

    def _answer(self, form: dict[str, str]) -> dict:
        presented = form.get("refresh_token", "")
        with self._lock:
            self.uses[presented] += 1
            if self._refusals:
                return self._refusals.pop(0)
            if presented not in self._valid:
                return {
                    "error": -14014,
                    "error_name": "Invalid refresh token",
                    "error_description": "Refresh token is invalid or used",
                }
            self._valid.discard(presented)
            self._issued += 1
            new_refresh = f"refresh-{self._issued + 1}"
            self._valid.add(new_refresh)
            return {
                "access_token": f"access-{self._issued}",
                "refresh_token": new_refresh,
                "expires_in": self.EXPIRES_IN,
            }

    def _handler(self):
        oauth = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                with oauth._lock:
                    oauth.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            form,
                        )
                    )
                # Slow before deciding, so that racing callers overlap here.
                time.sleep(oauth.delay)
                body = json.dumps(oauth._answer(form)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler
