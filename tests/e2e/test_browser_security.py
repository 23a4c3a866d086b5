"""In a real browser under the app's CSP: the UI works, and a document's remote image
(a tracking beacon) is never fetched when its passage or the answer is shown.

A Markdown document carries ``![logo](http://127.0.0.1:<beacon>/pixel.png)`` next to
the fact asked about; the extractive provider (no model) quotes it. The beacon counts
every request it gets.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from e2e_support import AppServer, free_port
from test_browser import USERS, ask, last_answer, log_in, shot, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]


class Beacon:
    """An HTTP server on 127.0.0.1 that counts the requests it answers."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                beacon.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()



def test_remote_images_in_passages_and_answers_are_not_fetched(browser, tmp_path):
    beacon = Beacon()
    app = AppServer(tmp_path / "data", env_extra={})
    (tmp_path / "data").mkdir()
    app.add_user("alice", USERS["alice"])
    app.start()
    try:
        doc = tmp_path / "festival.md"
        doc.write_text(
            "# Quokka festival\n\n"
            f"![logo](http://127.0.0.1:{beacon.port}/pixel.png)\n\n"
            "The Quokka festival takes place every June on Rottnest island. "
            f"![banner](http://127.0.0.1:{beacon.port}/banner.png) Tickets cost ten dollars.\n")
        page = log_in(browser, app, "alice")
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        wait_ready(page)
        page.set_input_files("#upload-button-input", str(doc))
        page.wait_for_function("() => !document.querySelector('#chat-submit').disabled")
        page.click("#chat-submit")
        page.get_by_text(re.compile(r"Indexed 1 file")).first.wait_for(timeout=300_000)
        ask(page, "When does the Quokka festival take place?")
        answer = last_answer(page)
        answer.get_by_text(re.compile("June")).first.wait_for(timeout=180_000)
        page.wait_for_timeout(1500)
        answer.locator("a", has_text=re.compile(r"^\[\d\]$")).first.click()
        page.get_by_text("festival.md").last.wait_for()
        page.wait_for_timeout(2000)
        shot(page, "security-01-passage")
        assert beacon.hits == [], beacon.hits
        # the UI ran under the CSP: no script of the app itself was refused
        assert not [v for v in violations if "script-src" in v and "inline" in v], violations
    finally:
        app.stop()
        beacon.stop()
