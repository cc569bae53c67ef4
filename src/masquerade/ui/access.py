"""Who may use the UI: credentials from the environment or a file, and a per-client brake on failed logins.

Why not `--auth user:password`: anything on the command line is readable by every user of the machine (`ps`,
/proc/PID/cmdline) for as long as the server runs. The environment of a process is private to its owner, and
a file can be made private (we refuse one that others can read, as ssh does for keys).

Why a brake: Gradio's login form answers as fast as it is asked, so a password can be guessed at network
speed. After a few failures from one client address, each further failure doubles the wait before that
address may try again (capped); a success clears its record. Other clients are not affected.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Mapping

from ..errors import MasqueradeError

AUTH_ENV = "MASQUERADE_UI_AUTH"
FREE_FAILURES = 5  # failures allowed before back-off starts (typos happen)
MAX_WAIT_S = 300.0
FORGET_AFTER_S = 3600.0


class AuthError(MasqueradeError):
    """The UI's credentials are missing, malformed, or kept where others can read them."""


def parse_credentials(text: str, source: str) -> list[tuple[str, str]]:
    """`user:password` lines (blank lines and `#` comments skipped) -> [(user, password)]."""
    creds = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise AuthError(f"{source}: each login must be user:password (both parts non-empty)")
        creds.append((user.strip(), password))
    if not creds:
        raise AuthError(f"{source} holds no user:password line")
    return creds


def load_credentials(auth_file: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> list[tuple[str, str]] | None:
    """Logins from `auth_file` (one user:password a line), else from $MASQUERADE_UI_AUTH; None if neither."""
    environ = os.environ if environ is None else environ
    if auth_file is not None:
        path = Path(auth_file).expanduser()
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AuthError(f"--auth-file {path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(f"--auth-file {path}: cannot read it ({exc})") from None
        if os.name == "posix" and mode & 0o077:
            raise AuthError(f"--auth-file {path} can be read by other users of this machine; "
                            f"run `chmod 600 {path}` and start again")
        return parse_credentials(text, f"--auth-file {path}")
    value = environ.get(AUTH_ENV)
    if value:
        return parse_credentials(value, f"${AUTH_ENV}")
    return None


class FailedLogins:
    """Per-client failure counts and the time each client must wait before its next login attempt."""

    def __init__(self, free: int = FREE_FAILURES, max_wait: float = MAX_WAIT_S, clock=time.monotonic):
        self.free, self.max_wait, self.clock = free, max_wait, clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, float]] = {}  # client -> (failures, time of the last one)

    def wait(self, client: str) -> float:
        """Seconds `client` must still wait before it may try again (0 = now)."""
        with self._lock:
            failures, last = self._state.get(client, (0, 0.0))
        if failures < self.free:
            return 0.0
        return max(0.0, last + self._delay(failures) - self.clock())

    def _delay(self, failures: int) -> float:
        return min(self.max_wait, 2.0 ** (failures - self.free))

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            failures, _ = self._state.get(client, (0, 0.0))
            self._state[client] = (failures + 1, now)
            if len(self._state) > 10_000:  # many addresses: forget the ones idle for an hour
                self._state = {c: v for c, v in self._state.items() if now - v[1] < FORGET_AFTER_S}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._state.pop(client, None)


class LoginThrottle:
    """ASGI middleware over Gradio's app: refuses POST /login with 429 while the client must wait."""

    def __init__(self, app, failures: FailedLogins | None = None):
        self.app, self.failures = app, failures or FailedLogins()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").rstrip("/").endswith("/login"):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.failures.wait(client)
        if wait > 0:
            body = json.dumps({"detail": f"too many failed logins; try again in {math.ceil(wait)} s"}).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", str(math.ceil(wait)).encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code") == 200:
            self.failures.succeeded(client)
        elif status.get("code") in (400, 401, 403):
            self.failures.failed(client)
