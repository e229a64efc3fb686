"""What built-ins share across a run: the object store and the run's identity."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pheme.storage.objectstore import ObjectStore
    from pheme.storage.objectstore.artifacts import ArtifactStore
    from pheme.storage.objectstore.cache import CacheStore

__all__ = ["BuiltinServices", "capture", "tool_env"]


@dataclass
class BuiltinServices:
    """``store``: the object store (default: ``$PHEME_HOME/objects``).
    ``run_key``: the id artifacts are filed under (default: ``GITHUB_RUN_ID``
    of the step) — give each local run a distinct one.
    ``cache_limit_bytes``: the cache size limit (default 10 GiB or
    ``PHEME_CACHE_LIMIT_MB``)."""

    store: ObjectStore | None = None
    run_key: str | None = None
    cache_limit_bytes: int | None = None
    _cache: CacheStore | None = field(default=None, repr=False)
    _artifacts: ArtifactStore | None = field(default=None, repr=False)

    def objects(self) -> ObjectStore:
        if self.store is None:
            from pheme.storage.objectstore import open_default_store

            self.store = open_default_store()
        return self.store

    def cache(self) -> CacheStore:
        if self._cache is None:
            from pheme.storage.objectstore.cache import CacheStore

            self._cache = CacheStore(self.objects(), limit_bytes=self.cache_limit_bytes)
        return self._cache

    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            from pheme.storage.objectstore.artifacts import ArtifactStore

            self._artifacts = ArtifactStore(self.objects())
        return self._artifacts

    def run_id(self, env: Mapping[str, str]) -> str:
        return self.run_key or env.get("GITHUB_RUN_ID") or "1"


async def capture(argv: list[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run a short command and return ``(exit code, stdout+stderr)``; 127 if it cannot start.

    Runs in a worker thread with :mod:`subprocess`: the engine manages child
    processes its own way, so asyncio's subprocess machinery is not relied on.
    """

    def run() -> tuple[int, str]:
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=3600,
            )
        except OSError as exc:
            return 127, str(exc.strerror or exc)
        except subprocess.TimeoutExpired:
            return 124, f"{argv[0]} timed out"
        return done.returncode, done.stdout.decode("utf-8", "replace")

    return await asyncio.to_thread(run)


def tool_env(env: Mapping[str, str]) -> dict[str, str]:
    """The step environment for helper commands (git, npm) that built-ins run themselves."""
    out = dict(env) if env else dict(os.environ)
    out.pop("GIT_DIR", None)
    out["GIT_TERMINAL_PROMPT"] = "0"
    return out
