"""A stand-in for an Open Policy Agent server, for tests.

No OPA binary can be installed on this machine (no internet beyond the package
registries), so this small HTTP server answers the one part of OPA's REST Data API that
Charter uses: `POST /v1/data/<path>` with `{"input": ...}`, answered `{"result": ...}`
(or `{}` when the path is undefined), by evaluating a Rego module with `regopy`, a Rego
interpreter from PyPI. It can also be made slow or made to answer garbage, for the
fail-closed tests.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from regopy import Interpreter


class OpaStandIn:
    def __init__(self, rego: Path, delay: float = 0.0, garbage: str | None = None) -> None:
        self.source = rego.read_text(encoding="utf-8")
        self.delay = delay
        self.garbage = garbage
        self.lock = threading.Lock()  # one interpreter; regopy is not known to be reentrant
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.requests: list[dict[str, Any]] = []

    def _evaluate(self, path: str, document: Any) -> Any:
        interpreter = Interpreter()
        interpreter.add_module("policy", self.source)
        interpreter.set_input_term(json.dumps(document))
        query = "data." + ".".join(part for part in path.split("/") if part)
        text = str(interpreter.query(query))
        if text.strip() == "undefined":
            return None
        output = json.loads(text)
        expressions = output.get("expressions") if isinstance(output, dict) else None
        return expressions[0] if expressions else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:  # quiet
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stand_in.requests.append(body)
                if stand_in.delay:
                    time.sleep(stand_in.delay)
                if stand_in.garbage is not None:
                    payload = stand_in.garbage.encode()
                elif not self.path.startswith("/v1/data/"):
                    self.send_response(404)
                    self.end_headers()
                    return
                else:
                    with stand_in.lock:
                        result = stand_in._evaluate(self.path[len("/v1/data/") :], body["input"])
                    payload = json.dumps({} if result is None else {"result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def __enter__(self) -> OpaStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
