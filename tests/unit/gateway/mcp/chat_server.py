"""A small local HTTP server that speaks the OpenAI chat-completions protocol, for tests.

No model runs here: the server answers what the test tells it to (a fixed reply, a reply built
from the request, an HTTP error, or nothing until the client gives up) and records each request,
so that the real `openai` client and codesift's use of it are what is tested.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], str]  # the request's JSON body -> the assistant's text


@dataclass
class ChatServer:
    url: str  # base URL, ending in /v1
    requests: list[dict[str, Any]] = field(default_factory=list)  # JSON bodies received
    reply: Reply = lambda body: "no reply set"
    status: int = 200  # another status: an OpenAI-style error body with it
    delay: float = 0.0  # seconds to wait before answering
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request, names lowercased


def completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@contextmanager
def chat_server() -> Iterator[ChatServer]:
    """Serve on 127.0.0.1, a free port, in a thread, until the block ends."""
    state = ChatServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            state.requests.append(body)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            if state.delay:
                time.sleep(state.delay)
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            elif state.status != 200:
                self._send(state.status, {"error": {"message": "the model crashed", "type": "server_error"}})
            else:
                self._send(200, completion(state.reply(body), body.get("model", "")))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
