"""Web UI over the same stage functions as the CLI: `serve()` runs it, `build_app()` builds it (tests).

Gradio is imported only when the app is built, so `import masquerade.ui` works without the `ui` extra (and
`serve` can say how to install it).
"""

from .server import BindRefused, MissingExtra, check_bind, serve


def build_app(*args, **kwargs):
    """See `masquerade.ui.app.build_app`."""
    from .app import build_app as _build

    return _build(*args, **kwargs)


__all__ = ["BindRefused", "MissingExtra", "build_app", "check_bind", "serve"]
