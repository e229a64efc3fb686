"""``actions/cache``, ``actions/cache/restore`` and ``actions/cache/save``.

Backed by :class:`~pheme.storage.objectstore.cache.CacheStore` (see there for
the matching rules). ``actions/cache`` restores in ``main`` and saves in
``post`` unless the primary key was hit exactly — and, like the real
action, only when the job is succeeding (``post-if: success()``), unless
``save-always`` is set. Scopes follow GitHub's: the run's ref first, then
the base branch of a pull request, then ``main``/``master``.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pheme.errors import StorageError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import job_status, log_warning, set_output
from pheme.execution.actions.builtins._builtin import Builtin, as_bool
from pheme.execution.actions.builtins._services import BuiltinServices

__all__ = ["Cache", "CacheRestore", "CacheSave", "restore_keys", "restore_paths", "save_paths", "scopes_for"]


def scopes_for(env: dict[str, str]) -> list[str]:
    scopes = [env.get("GITHUB_REF", "")]
    if env.get("GITHUB_BASE_REF"):
        scopes.append(f"refs/heads/{env['GITHUB_BASE_REF']}")
    scopes += ["refs/heads/main", "refs/heads/master"]
    return list(dict.fromkeys(scopes))


def restore_keys(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def restore_paths(
    rt: StepRuntime, services: BuiltinServices, key: str, keys: list[str], paths: str, *, lookup_only: bool = False
) -> tuple[str | None, bool]:
    """Restore; returns ``(matched key or None, exact hit)`` and logs as actions/cache does."""
    base = rt.env.get("GITHUB_WORKSPACE") or rt.workspace
    result = await asyncio.to_thread(
        services.cache().restore,
        key,
        keys,
        paths,
        base_dir=base,
        scopes=scopes_for(rt.env),
        lookup_only=lookup_only,
    )
    if result is None:
        rt.log([f"Cache not found for input keys: {', '.join([key, *keys])}"])
        return None, False
    size_mb = result.entry.size / (1024 * 1024)
    rt.log([f"Cache Size: ~{size_mb:.0f} MB ({result.entry.size} B)"])
    if lookup_only:
        rt.log([f"Cache found and can be restored from key: {result.entry.key}"])
    else:
        rt.log([f"Cache restored from key: {result.entry.key}"])
    return result.entry.key, result.exact


async def save_paths(rt: StepRuntime, services: BuiltinServices, key: str, paths: str) -> bool:
    base = rt.env.get("GITHUB_WORKSPACE") or rt.workspace
    scope = rt.env.get("GITHUB_REF", "")
    try:
        entry = await asyncio.to_thread(services.cache().save, key, paths, base_dir=base, scope=scope)
    except StorageError as exc:
        log_warning(rt, str(exc))
        return False
    if entry is None:
        log_warning(rt, f"Failed to save: Unable to reserve cache with key {key}, another job may be creating this cache.")
        return False
    rt.log([f"Cache saved with key: {key}"])
    return True


class _CacheInputs(Builtin):
    INPUTS: ClassVar[dict[str, Any]] = {
        "path": None,
        "key": None,
        "restore-keys": "",
        "upload-chunk-size": "",
        "enableCrossOsArchive": "false",
        "fail-on-cache-miss": "false",
        "lookup-only": "false",
        "save-always": "false",
    }
    REQUIRED = ("path", "key")


class Cache(_CacheInputs):
    NAME = "actions/cache"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._key = ""
        self._matched: str | None = None

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        self._key = self.get("key").strip()
        lookup_only = as_bool(self.get("lookup-only"))
        matched, exact = await restore_paths(
            rt, self.services, self._key, restore_keys(self.get("restore-keys")), self.get("path"), lookup_only=lookup_only
        )
        self._matched = matched
        set_output(rt, "cache-hit", "true" if exact else "false")
        if matched is None and as_bool(self.get("fail-on-cache-miss")):
            rt.fail(f"Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {self._key}")
            return "failure"
        self._has_post = not lookup_only
        return "success"

    async def post(self, rt: StepRuntime) -> PhaseOutcome:
        rt.log([f"Pheme built-in {self.NAME}: post-job cache save"])
        if job_status(rt) != "success" and not as_bool(self.get("save-always")):
            rt.log(["Skipping cache save: the job has not succeeded (post-if: success())"])
            return "success"
        if self._matched == self._key:
            rt.log([f"Cache hit occurred on the primary key {self._key}, not saving cache."])
            return "success"
        await save_paths(rt, self.services, self._key, self.get("path"))
        return "success"


class CacheRestore(_CacheInputs):
    NAME = "actions/cache/restore"

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        key = self.get("key").strip()
        matched, exact = await restore_paths(
            rt,
            self.services,
            key,
            restore_keys(self.get("restore-keys")),
            self.get("path"),
            lookup_only=as_bool(self.get("lookup-only")),
        )
        set_output(rt, "cache-primary-key", key)
        set_output(rt, "cache-hit", "true" if exact else "false")
        if matched is not None:
            set_output(rt, "cache-matched-key", matched)
        elif as_bool(self.get("fail-on-cache-miss")):
            rt.fail(f"Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {key}")
            return "failure"
        return "success"


class CacheSave(_CacheInputs):
    NAME = "actions/cache/save"

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        await save_paths(rt, self.services, self.get("key").strip(), self.get("path"))
        return "success"


