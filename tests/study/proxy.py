"""A small buffering reverse proxy for the tests: ``python -m tests.study.proxy UPSTREAM``.

It reads each request in full (headers, then the body by Content-Length, with a socket timeout),
appends the client's address to ``X-Forwarded-For`` as nginx's ``$proxy_add_x_forwarded_for``
does, and passes the request on to ``UPSTREAM`` (``http://127.0.0.1:PORT``); the answer comes
back unchanged (no redirects followed). It prints ``proxy on http://127.0.0.1:PORT/`` once it
listens. Loopback only.
"""

from __future__ import annotations

import http.client
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


def make_handler(upstream: str) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # a client that trickles its request is dropped here, not upstream

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers.pop("X-Forwarded-For", None)
            prior = self.headers.get("X-Forwarded-For")
            client = self.client_address[0]
            headers["X-Forwarded-For"] = f"{prior}, {client}" if prior else client
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Proxy


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(sys.argv[1]))
    server.daemon_threads = True
    print(f"proxy on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
