"""Zalo's ZNS endpoint played by a real HTTP server on 127.0.0.1, for the tests.

It records every request as it arrives (path, headers, JSON body) and answers each
with the next scripted answer, or with success and a fresh msg_id when none is left.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class FakeZns:
    PATH = "/message/template"

    def __init__(self):
        self.received: list[Received] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._sent = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.PATH}"

    def start(self) -> FakeZns:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

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
