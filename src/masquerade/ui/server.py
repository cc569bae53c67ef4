"""`serve(...)`: start the UI. Loopback by default; any other address needs a login (refused otherwise).

Order matters in `serve`: every refusal (no login for a public address, no `ui` extra, a login file others
can read) happens before anything is created or any URL is printed, so a refused start leaves no trace and
no address that looks usable.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path
from typing import Callable, Sequence

from ..errors import MasqueradeError
from .access import AUTH_ENV, FailedLogins, load_credentials
from .workspace import DEFAULT_MAX_UPLOAD, SHOWN

Logins = Sequence[tuple[str, str]]


class BindRefused(MasqueradeError):
    """Listening beyond this machine was asked for without a login."""


class MissingExtra(MasqueradeError):
    """The web UI's optional dependencies (the `ui` extra) are not installed."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: treat as reachable from outside


def check_bind(host: str, logins: Logins | None) -> None:
    """Refuse a non-loopback `host` without logins (anyone on the network could use the UI)."""
    if not is_loopback(host) and not logins:
        raise BindRefused(f"refusing to listen on {host} without a login: anyone who can reach this machine could "
                          f"use your models and files. Put user:password in ${AUTH_ENV} or in a file passed with "
                          "--auth-file (chmod 600), or use --host 127.0.0.1")


def check_port(host: str, port: int) -> None:
    """Refuse a port out of range or already taken before anything is created (the workspace folder, Gradio's
    server): one line the user can act on instead of a socket traceback."""
    if not 1 <= port <= 65535:
        raise BindRefused(f"--port must be a whole number from 1 to 65535, not {port}")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BindRefused(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: a closed port's
        try:  # TIME_WAIT does not count as taken
            probe.bind(address)
        except OSError as exc:
            raise BindRefused(f"cannot listen on {host}:{port} ({exc.strerror}); is another UI running? "
                              "Choose another with --port") from None


def require_gradio() -> None:
    """Raise MissingExtra (one line saying how to install it) when Gradio cannot be imported."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise MissingExtra("the web UI needs the `ui` extra: pip install 'masquerade[ui]' "
                           "(or `pip install -e '.[ui]'` in a checkout)") from None


def launch(app, host: str = "127.0.0.1", port: int = 7860, logins: Logins | None = None,
           open_browser: bool = False, block: bool = True, failed_logins: FailedLogins | None = None) -> None:
    """Launch a built app; `block=False` returns at once (tests), the caller then calls `app.close()`.
    `failed_logins` (tests) is the brake's record; a fresh one by default.

    Gradio serves files from `allowed_paths` and its own cache only. The only workspace folder allowed is the
    one the pages publish into (`Workspace.publish`: thumbnails, previews, outputs); every area is blocked,
    so weights, model folders, a face set's raw folder, uploads and job records are never served.
    """
    from starlette.middleware import Middleware

    from .access import LoginThrottle
    from .context import CSS

    ws = app.masquerade.ws
    blocked = [str(ws.area(a)) for a in ("uploads", "jobs", "models", "facesets", "outputs")]
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=host, server_port=port, auth=list(logins) if logins else None, inbrowser=open_browser,
               share=False, max_file_size=ws.max_upload_bytes, allowed_paths=[str(ws.root / SHOWN)],
               blocked_paths=blocked, ssr_mode=False, prevent_thread_lock=not block, show_error=True, quiet=True,
               css=CSS, mcp_server=False, app_kwargs={"middleware": [Middleware(LoginThrottle, failures=failed_logins or FailedLogins())]})


def serve(host: str = "127.0.0.1", port: int = 7860, auth_file: Path | None = None,
          workspace: Path = Path("masquerade-workspace"), open_browser: bool = False,
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD, announce: Callable[[str], None] = print) -> None:
    """Run the UI until interrupted (blocking); `announce` gets the URL line once the server listens.

    Logins come from `auth_file` or $MASQUERADE_UI_AUTH (see `access`). Jobs keep their records in
    WORKSPACE/jobs/.
    """
    logins = load_credentials(auth_file)
    check_bind(host, logins)
    check_port(host, port)
    require_gradio()
    from .app import build_app

    app = build_app(workspace, max_upload_bytes=max_upload_bytes)
    try:
        launch(app, host, port, logins, open_browser, block=False)
        login = "; login required" if logins else ""
        announce(f"Masquerade UI on {app.local_url or f'http://{host}:{port}/'} (workspace {app.masquerade.ws.root}"
                 f"{login}); Ctrl-C to stop")
        while app.is_running:  # Gradio's block_thread() prints its own chatter on Ctrl-C
            time.sleep(0.2)
    finally:
        app.close()
        app.masquerade.close()
