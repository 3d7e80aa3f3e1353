"""The dashboard (`modelyard ui`): the registry, the servers, the gate and the monitor on one web page.

Server-rendered pages (Starlette and Jinja2) over the same registry the CLI reads, with htmx for the small dynamic
parts and uPlot for the charts, both vendored under `static/vendor` (`make vendor` refreshes them from npm): a
plain `pip install modelyard` serves the page offline, with no CDN and no node. Read-only unless the operator
sets a token; promote and rollback then go through the same rule as the CLI.
"""

from modelyard.ui.app import create_app

__all__ = ["create_app"]
