"""A local web server of realistic blog pages for the scraper and hero tests (loopback only)."""

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OG_POST = """<!doctype html><html lang="en"><head>
<title>Baking sourdough at home | Crumb Journal</title>
<meta property="og:title" content="Baking sourdough at home">
<meta property="og:description" content="A slow-fermented loaf with a crackling crust, step by step.">
<meta property="og:site_name" content="Crumb Journal">
<meta property="og:image" content="/images/loaf.jpg">
<meta property="article:tag" content="bread"><meta property="article:tag" content="baking">
</head><body><article><h1>Baking sourdough at home</h1>
<p>Sourdough starts with a starter: flour and water left to ferment until it bubbles.</p>
<p>Mix, fold, shape and proof overnight in the fridge; bake in a hot Dutch oven.</p>
</article></body></html>"""

JSON_LD_POST = """<!doctype html><html><head>
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
 {"@type": "BlogPosting", "headline": "Scaling Kubernetes clusters for AI inference",
  "keywords": "kubernetes, gpu, inference", "publisher": {"@type": "Organization", "name": "Infra Weekly"}}]}
</script></head><body><main>
<p>Serving models on GPUs means autoscaling on queue depth, not CPU load.</p></main></body></html>"""

BARE_PAGE = """<html><head><title>Notes on watercolor landscapes</title></head>
<body><p>Wet-on-wet washes give soft skies over the hills.</p></body></html>"""


class PageServer:
    """Serves the pages above and some hostile ones; counts requests per path."""

    def __init__(self):
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.hits[parts.path] = server.hits.get(parts.path, 0) + 1
                query = parse_qs(parts.query)
                route = {
                    "/og.html": lambda: self._html(OG_POST),
                    "/jsonld.html": lambda: self._html(JSON_LD_POST),
                    "/bare.html": lambda: self._html(BARE_PAGE),
                    "/slow.html": lambda: (time.sleep(float(query.get("delay", ["2"])[0])), self._html(OG_POST)),
                    "/huge.html": lambda: self._html(
                        "<html><body>" + "<p>filler text</p>" * 200_000 + "</body></html>"
                    ),
                    "/image.png": lambda: self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
                    "/to-metadata": lambda: self._redirect("http://169.254.169.254/latest/meta-data/"),
                }.get(parts.path)
                if route is None:
                    self._send(404, "text/html", b"<html><body>not found</body></html>")
                else:
                    route()

            def _html(self, text: str) -> None:
                self._send(200, "text/html; charset=utf-8", text.encode())

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "PageServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
