"""`modelyard ui`: the dashboard over this registry, on 127.0.0.1:8080 unless told otherwise."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.render import err, out
from modelyard.cli.state import state
from modelyard.errors import InvalidArgument, PortInUse


def ui(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1; MODELYARD_UI__HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default 8080; MODELYARD_UI__PORT).")] = None,
) -> None:
    """Serve the dashboard: models, versions and their cards, alias timelines, validations, drift, batch jobs, and
    the live servers with their charts. Read-only unless MODELYARD_UI__TOKEN is set: then a person who signs in
    with it may promote and roll back, through the same rule as `modelyard promote`."""
    import socket

    import uvicorn

    from modelyard.ui import create_app

    s = state(ctx)
    settings = s.settings.ui
    host, port = host or settings.host, settings.port if port is None else port
    token = settings.token.get_secret_value() if settings.token else None
    if token is not None and len(token) < 12:
        raise InvalidArgument("MODELYARD_UI__TOKEN: at least 12 characters; it is all that guards promote and rollback")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise PortInUse(f"--port {port}: cannot listen on {host}:{port} ({error.strerror}); choose another") from None
    from modelyard.ui.app import LOOPBACK

    loopback = host in LOOPBACK
    app = create_app(s.registry(), token, s.settings.home_dir / "cache", LOOPBACK if loopback else None)
    mode = "signed-in users may promote and roll back" if token else "read-only: MODELYARD_UI__TOKEN allows writes"
    out.print(f"modelyard ui on http://{host}:{port}/ ({mode})")
    if not loopback:
        err.print(f"note: {host} shows the registry to whoever reaches it"
                  + (", and the token and session cross the network in clear: put TLS in front" if token else ""),
                  style="yellow")  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
