"""The SDK's HTTP layer against real loopback sockets: URLs, query strings, failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from charter.client.client import Client
from charter.client.transport import Transport, Unreachable, query_string


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append((self.command, self.path, dict(self.headers), body))
        payload = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = _answer  # noqa: N815 (http.server names them so)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_query_strings_repeat_list_keys_and_spell_booleans_as_json() -> None:
    assert (
        query_string({"tag": ["risk_tier:high", "a b"], "follow": True, "n": 3})
        == "tag=risk_tier%3Ahigh&tag=a%20b&follow=true&n=3"
    )
    assert query_string({"x": False, "y": None}) == "x=false&y="


def test_requests_keep_the_servers_path_and_send_headers_and_json(recorder: str) -> None:
    http = Transport(recorder + "/charter/", "/api/v1", {"Authorization": "Bearer t"}, 5)
    try:
        answer = http.request("POST", "/models/a b", json_body={"ü": 1}, params={"tag": ["k:v"]})
        http.request("GET", "/health", headers={"If-Match": '"3"'})
    finally:
        http.close()
    assert answer.is_success and answer.json() == {"status": "ok"}
    (method, path, headers, body), (_, _, second, _) = Recorder.seen
    assert (method, path) == ("POST", "/charter/api/v1/models/a%20b?tag=k%3Av")
    assert headers["Authorization"] == "Bearer t" and second["Authorization"] == "Bearer t"
    assert second["If-Match"] == '"3"'
    assert headers["Content-Type"] == "application/json"
    assert body.decode() == '{"ü": 1}'


def test_a_server_that_is_not_there_is_reported_as_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with Client(f"http://127.0.0.1:{port}", "chr_x") as client, pytest.raises(Unreachable) as info:
        client.health()
    assert f"127.0.0.1:{port}" in info.value.message
    assert not info.value.timed_out


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = Client(f"http://127.0.0.1:{port}", "chr_x", timeout=0.2)
        with client, pytest.raises(Unreachable, match="timed out") as info:
            client.health()
    assert info.value.timed_out
