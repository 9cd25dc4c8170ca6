"""A local HTTP server serving one image, on an address the operator allows
(``CUTOUT_FETCH_ALLOWED_NETWORKS``): the "image by URL" tests of the API and the web app."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def serving_image(settings: Any, payload: bytes, path: str) -> Iterator[str]:
    """Serve ``payload`` as a JPEG at ``path`` on loopback; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CUTOUT_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
