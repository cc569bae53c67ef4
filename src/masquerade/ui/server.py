"""`serve(...)`: start the UI. Loopback by default; any other address needs a login (refused otherwise)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from ..errors import MasqueradeError
from .workspace import DEFAULT_MAX_UPLOAD


class BindRefused(MasqueradeError):
    """Listening beyond this machine was asked for without a login."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: treat as reachable from outside


def check_bind(host: str, auth: str | None) -> tuple[str, str] | None:
    """Parse `user:pass`; refuse a non-loopback `host` without it (anyone on the network could use the UI)."""
    creds = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise BindRefused("--auth must be user:password (both parts non-empty)")
        creds = (user, password)
    if not is_loopback(host) and creds is None:
        raise BindRefused(f"refusing to listen on {host} without --auth user:password: anyone who can reach this "
                          "machine could use your models and files. Add --auth, or use --host 127.0.0.1")
    return creds


def launch(app, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           open_browser: bool = False, block: bool = True) -> None:
    """Launch a built app; `block=False` returns at once (tests), the caller then calls `app.close()`."""
    from .context import CSS

    ws = app.masquerade.ws
    # Gradio serves only these folders (and its own cache): what the pages show, never uploads or job records
    shown = [str(ws.area(a)) for a in ("outputs", "models", "facesets")]
    hidden = [str(ws.area(a)) for a in ("uploads", "jobs")]
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=host, server_port=port, auth=auth, inbrowser=open_browser, share=False,
               max_file_size=ws.max_upload_bytes, allowed_paths=shown, blocked_paths=hidden, ssr_mode=False,
               prevent_thread_lock=not block, show_error=True, quiet=not block, css=CSS, mcp_server=False)


def serve(host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          workspace: Path = Path("masquerade-workspace"), open_browser: bool = False,
          max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> None:
    """Run the UI until interrupted (blocking). Jobs keep their records in WORKSPACE/jobs/."""
    from .app import build_app

    creds = check_bind(host, auth)
    app = build_app(workspace, max_upload_bytes=max_upload_bytes)
    try:
        launch(app, host, port, creds, open_browser, block=True)
    finally:
        app.masquerade.close()
