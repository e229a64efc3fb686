"""Public entry to the pipeline server's tables (see ``_server`` for the why).

    from pheme.storage.server import ServerStore, NewRun
    server_store = ServerStore(open_store(url))

Everything returned is a :mod:`pheme.core.server` or :mod:`pheme.core.runs` record.
"""

from __future__ import annotations

from pheme.storage._server import NewRun, ServerStore

__all__ = ["NewRun", "ServerStore"]
