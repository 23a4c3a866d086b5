"""Real servers for the protocol, browser and load tests: the app and the fake LLM.

Everything listens on 127.0.0.1 only, on free ports, with a temporary data directory;
:class:`AppServer` runs ``chainlit run app.py --headless`` from the project root.
:class:`ChatClient` drives one Chainlit session over socket.io with a login cookie,
as the browser does.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
FAKE_OPENAI = Path(__file__).with_name("fake_openai.py")
FAKE_MODEL = "fake-gpt"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers 200 (raise if ``proc`` dies or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def fake_llm_env(port: int) -> dict[str, str]:
    """Router settings that send every task to the fake server (extractive last)."""
    link = f"compat:{FAKE_MODEL}"
    return {"DOCCHAT_LLM_COMPAT_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "DOCCHAT_LLM_COMPAT_MODELS": FAKE_MODEL,
            "DOCCHAT_LLM_CHAIN_ROUTE": link, "DOCCHAT_LLM_CHAIN_ANSWER": link,
            "DOCCHAT_LLM_CHAIN_REVIEW": link, "DOCCHAT_LLM_CHAIN_TITLE": link,
            "DOCCHAT_LLM_MAX_RETRIES": "0"}


#: what makes a provider available; set empty, each counts as missing (base URLs are only
#: dropped: an empty OPENAI_BASE_URL would be taken by the SDK as the URL itself)
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                 "DOCCHAT_LLM_COMPAT_BASE_URL")


def no_llm_env() -> dict[str, str]:
    """Environment with every provider key empty: the extractive provider answers."""
    return {k: "" for k in KEY_VARIABLES}


@dataclass
class FakeLLM:
    """The scripted OpenAI-compatible server (tests/e2e/fake_openai.py) as a process."""

    needle: str = ""
    delay: float = 0.03
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> FakeLLM:
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_OPENAI), "--port", str(self.port), "--needle",
             self.needle, "--delay", str(self.delay)], cwd=ROOT)
        wait_http(f"http://127.0.0.1:{self.port}/stats", 30, self.proc)
        return self

    def stats(self) -> dict:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json()

    def stop(self) -> None:
        stop_process(self.proc)


def make_app_root(folder: Path) -> Path:
    """A Chainlit app root of its own (``CHAINLIT_APP_ROOT``) that links the project's
    ``.chainlit`` config, ``public`` assets and ``chainlit.md``: Chainlit creates its
    ``.files`` there and its shutdown deletes it, never the repository's."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (".chainlit", "public", "chainlit.md"):
        link = folder / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    return folder


@dataclass
class AppServer:
    """``chainlit run app.py`` on 127.0.0.1 with its own data directory and app root
    (``app_root``, default ``<data_dir>/app-root``)."""

    data_dir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    app_root: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The server's environment: the caller's without its model settings, provider
        keys and ``CI`` (Chainlit's CI mode plants an OpenAI key), matched
        case-insensitively as pydantic-settings reads them (a key on the test
        machine must not turn an extractive app into one that calls a provider), each key
        then set empty (an empty key counts as missing and outranks a ``.env`` file) and no
        LLM settings file; then the app's own settings and ``env_extra``."""
        from agents.llm.settings import variables

        # keys, endpoints, DOCCHAT_LLM_* and CI: Chainlit's --ci flag reads CI (which CI
        # machines set) and then writes a placeholder OPENAI_API_KEY into the server
        dropped = set(variables()) | {"CI"}
        env = {k: v for k, v in os.environ.items() if k.upper() not in dropped}
        app_root = make_app_root(self.app_root or self.data_dir / "app-root")
        env.update({"DOCCHAT_DATA_DIR": str(self.data_dir), "DOCCHAT_BOOTSTRAP_ADMIN": "false",
                    "CHAINLIT_APP_ROOT": str(app_root),
                    "CHAINLIT_AUTH_SECRET": "test-secret-" + "x" * 40,
                    "DOCCHAT_LLM_SETTINGS_FILE": str(self.data_dir / "no-llm-settings.toml"),
                    "PYTHONUNBUFFERED": "1"})
        env.pop("DATABASE_URL", None)
        env = {k: v for k, v in env.items() if v != ""}
        env.update(no_llm_env())
        env.update(self.env_extra)
        return env

    def add_user(self, name: str, password: str) -> None:
        """``python -m chat users add NAME --password-stdin`` against this data dir."""
        subprocess.run([sys.executable, "-m", "chat", "users", "add", name,
                        "--password-stdin"], input=password + "\n", text=True, check=True,
                       cwd=ROOT, env=self.env(), capture_output=True, timeout=120)

    def start(self, timeout: float = 180.0) -> AppServer:
        self.log_path = self.data_dir / "server.log"
        log = open(self.log_path, "a")  # noqa: SIM115 - the server writes it until stop()
        self.proc = subprocess.Popen(
            ["chainlit", "run", "app.py", "--headless", "--host", "127.0.0.1", "--port",
             str(self.port)], cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/health", timeout, self.proc)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen | None) -> None:
    """Terminate ``proc`` (kill after 15 s); nothing when it is None or has exited."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def login_cookies(base_url: str, user: str, password: str) -> dict[str, str]:
    """Log in with POST /login; returns the auth cookies (``access_token`` or its chunks).

    Raises:
        httpx.HTTPStatusError: wrong name or password (401).
    """
    resp = httpx.post(f"{base_url}/login", data={"username": user, "password": password},
                      timeout=30)
    resp.raise_for_status()
    cookies = {k: v for k, v in resp.cookies.items() if k.startswith("access_token")}
    if not cookies:
        raise RuntimeError(f"no access_token cookie in the login response: {resp.headers}")
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


class ChatClient:
    """One Chainlit chat session over socket.io, logged in by cookie.

    Records every event the server sends in ``events`` as ``(name, payload)``.
    """

    def __init__(self, base_url: str, cookies: dict[str, str],
                 thread_id: str | None = None) -> None:
        import socketio

        self.base_url, self.cookies = base_url, cookies
        self.session_id = str(uuid.uuid4())
        self.thread_id = thread_id
        self.events: list[tuple[str, Any]] = []
        self._sent_at = 0
        self.sio = socketio.AsyncClient(reconnection=False)
        self._changed = asyncio.Event()

        @self.sio.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            self._changed.set()

    async def connect(self) -> ChatClient:
        auth = {"sessionId": self.session_id, "clientType": "webapp", "userEnv": "{}",
                "chatProfile": None, "threadId": self.thread_id}
        await self.sio.connect(self.base_url, socketio_path="/ws/socket.io",
                               transports=["websocket"], auth=auth,
                               headers={"Cookie": cookie_header(self.cookies)},
                               wait_timeout=30)
        await self.sio.emit("connection_successful")
        await self.wait_for(lambda c: bool(c.named("set_commands")), timeout=60)
        return self

    async def upload(self, path: Path, mime: str) -> dict:
        """POST a file to the session as the browser does; returns the file reference."""
        async with httpx.AsyncClient(cookies=self.cookies, timeout=60) as http:
            resp = await http.post(f"{self.base_url}/project/file",
                                   params={"session_id": self.session_id},
                                   files={"file": (path.name, path.read_bytes(), mime)})
            resp.raise_for_status()
            return resp.json()

    async def send(self, text: str, files: list[dict] | None = None,
                   command: str | None = None) -> str:
        """Send a user message; returns its id."""
        message_id = str(uuid.uuid4())
        message = {"id": message_id, "threadId": self.thread_id or "", "output": text,
                   "name": "User", "type": "user_message", "createdAt": _iso_now()}
        if command:
            message["command"] = command
        payload: dict[str, Any] = {"message": message}
        if files:
            payload["fileReferences"] = [{"id": f["id"]} for f in files]
        self._sent_at = len(self.events)
        await self.sio.emit("client_message", payload)
        return message_id

    @property
    def started_thread(self) -> str | None:
        """The thread id the server announced in ``first_interaction``."""
        found = self.named("first_interaction")
        return found[0]["thread_id"] if found else self.thread_id

    async def change_settings(self, values: dict) -> None:
        """Submit the settings panel and wait until the app handled it (Chainlit runs
        ``on_settings_update`` as a task: task_start, then task_end)."""
        self._sent_at = len(self.events)
        await self.sio.emit("chat_settings_change", values)
        await self.wait_for(lambda c: c.task_ended(), timeout=60)

    def named(self, *names: str) -> list[Any]:
        return [data for event, data in self.events if event in names]

    async def wait_for(self, predicate, timeout: float = 120.0) -> None:
        """Wait until ``predicate(self)`` is true (checked after every event)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met; last events: {self.events[-5:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            except TimeoutError:
                pass

    def task_ended(self) -> bool:
        """True once the last message sent was handled: a ``task_start`` after it was
        sent, then a ``task_end``."""
        names = [e for e, _ in self.events[self._sent_at:]]
        if "task_start" not in names:
            return False
        return "task_end" in names[names.index("task_start") + 1:]

    async def close(self) -> None:
        await self.sio.disconnect()


def _iso_now() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def upload_line(client: ChatClient, filename: str) -> str:
    """The line of ``filename`` in the last state of the upload's progress message
    (``"**notes.md**: indexed: 3 sections, 2 chunks, 0.4 s"``), or "" when none."""
    latest: dict[str, str] = {}
    for message in client.named("new_message", "update_message"):
        latest[message["id"]] = message.get("output") or ""
    for output in reversed(list(latest.values())):
        for line in output.splitlines():
            if f"**{filename}**" in line:
                return line.removeprefix("- ").strip()
    return ""
