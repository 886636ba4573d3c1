"""The admin console at ``/console``: server-rendered pages on the operations the admin API uses.

Modules, one idea each:

- ``routes``: the ``Console`` (its routes, its sessions, the decisions sampler)
- ``sessions``: server-side sessions and roles (admin, viewer)
- ``guard``: security headers, cookies, and the same-origin checks of every POST
- ``forms``: the revoke forms and their confirmations, in words
- ``search``: rules and audit entries filtered, one page at a time
- ``export``: the audit log as JSON, or CSV safe to open in a spreadsheet
- ``chart``: the overview's decisions chart, as geometry for an inline SVG
- ``signals``: the overview's cards for the signal sources
- ``pages``: Jinja2 (autoescaped) templates and the static files, from the package

Importing it loads Starlette and Jinja2: only the service's app imports it.
"""

from revoker.service.console.routes import Console

__all__ = ["Console"]
