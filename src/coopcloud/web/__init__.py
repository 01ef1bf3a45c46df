"""`coop dashboard`: a read-only web view of what coop knows, served on one address until Ctrl-C.

The optional extra ``coopcloud[dashboard]`` (Starlette, uvicorn, Jinja2) brings what it needs; nothing
here is imported by the rest of coop, and the CLI imports it only when `coop dashboard` runs.

- `board.py`: the data, read through `coopcloud.ops.overview` (the ops the CLI uses), cached for a
  moment so several open tabs cost one read;
- `app.py`: the Starlette app: pages, the GET-only/Host/token guard, the security headers;
- `serve.py`: the listening socket, the URL with its token, uvicorn;
- `templates/`: Jinja2 (autoescaped), one full page and one fragment per page, the fragment being what
  htmx polls; `static/`: the stylesheet and htmx 2.0.11 (``dist/htmx.min.js`` of the npm package
  ``htmx.org``, sha256 d6fdc75f…f717, Zero-Clause BSD: ``static/htmx.LICENSE``), served from here.
"""

from __future__ import annotations

import importlib.util

from coopcloud.errors import CoopError

EXTRA_MODULES = ("starlette", "uvicorn", "jinja2")


def require_extra() -> None:
    """Fail with one line naming the extra when its packages are missing (checked without importing them)."""
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise CoopError(
            f"coop dashboard needs the optional extra 'dashboard' ({', '.join(missing)} not installed)",
            hint="run: pip install 'coopcloud[dashboard]'",
        )
