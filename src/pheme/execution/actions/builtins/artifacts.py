"""``actions/upload-artifact`` and ``actions/download-artifact`` (v4 semantics).

Artifacts are filed under the run (see
:class:`~pheme.storage.objectstore.artifacts.ArtifactStore`), so a later job
of the same run downloads what an earlier one uploaded, byte for byte.
Download by ``name`` extracts into ``path`` directly; without a name every
artifact of the run (or those matching ``pattern``) goes into
``path/<name>/``, or straight into ``path`` with ``merge-multiple``.
``run-id`` downloads from another local run.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from pathlib import Path
from typing import Any, ClassVar

from pheme.errors import ActionError, StorageError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import log_warning, set_output
from pheme.execution.actions.builtins._builtin import Builtin, as_bool

__all__ = ["DownloadArtifact", "UploadArtifact"]


class UploadArtifact(Builtin):
    NAME = "actions/upload-artifact"
    INPUTS: ClassVar[dict[str, Any]] = {
        "name": "artifact",
        "path": None,
        "if-no-files-found": "warn",
        "retention-days": "",
        "compression-level": "6",
        "overwrite": "false",
        "include-hidden-files": "false",
    }
    REQUIRED = ("path",)

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        name = self.get("name") or "artifact"
        mode = self.get("if-no-files-found", "warn").strip() or "warn"
        try:
            days = int(self.get("retention-days") or 0) or None
            level = int(self.get("compression-level") or 6)
        except ValueError:
            raise ActionError("retention-days and compression-level must be numbers") from None
        if mode not in ("warn", "error", "ignore"):
            raise ActionError(
                f"Unrecognized if-no-files-found input. Provided: {mode}. Available options: warn, error, ignore"
            )
        store = self.services.artifacts()
        run_id = self.services.run_id(rt.env)
        ws = rt.env.get("GITHUB_WORKSPACE") or rt.workspace
        result = await asyncio.to_thread(
            store.upload,
            run_id,
            name,
            self.get("path"),
            workspace=ws,
            if_no_files_found=mode,  # type: ignore[arg-type]
            retention_days=days,
            overwrite=as_bool(self.get("overwrite")),
            include_hidden=as_bool(self.get("include-hidden-files")),
            compression_level=level,
        )
        for message in result.warnings:
            log_warning(rt, message)
        record = result.record
        if record is None:
            return "success"
        rt.log(
            [
                f"With the provided path, there will be {record.files} file(s) uploaded",
                f"Artifact {name} has been successfully uploaded! Final size is {record.size} bytes. "
                f"Artifact ID is {record.id}",
                f"Artifact digest: sha256:{record.digest}",
            ]
        )
        set_output(rt, "artifact-id", record.id)
        set_output(rt, "artifact-url", f"pheme://runs/{run_id}/artifacts/{name}")
        set_output(rt, "artifact-digest", record.digest)
        return "success"


class DownloadArtifact(Builtin):
    NAME = "actions/download-artifact"
    INPUTS: ClassVar[dict[str, Any]] = {
        "name": "",
        "artifact-ids": "",
        "path": "",
        "pattern": "",
        "merge-multiple": "false",
        "github-token": "",
        "repository": "${{ github.repository }}",
        "run-id": "${{ github.run_id }}",
    }

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        store = self.services.artifacts()
        run_id = self.services.run_id(rt.env)
        given_run = self.get("run-id").strip()
        if given_run and given_run != rt.env.get("GITHUB_RUN_ID", given_run) and self.get("github-token"):
            run_id = given_run
        ws = Path(rt.env.get("GITHUB_WORKSPACE") or rt.workspace)
        raw_path = self.get("path").strip()
        if raw_path.startswith("~"):
            raw_path = os.path.expanduser(raw_path)
        dest = (ws / raw_path).resolve() if raw_path else ws
        name = self.get("name").strip()
        try:
            if name:
                records = [store.get(run_id, name)]
            else:
                records = store.list(run_id)
                ids = {i.strip() for i in self.get("artifact-ids").split(",") if i.strip()}
                if ids:
                    records = [r for r in records if r.id in ids]
                pattern = self.get("pattern").strip()
                if pattern:
                    records = [r for r in records if fnmatch.fnmatchcase(r.name, pattern)]
        except StorageError as exc:
            raise ActionError(f"Unable to download artifact(s): {exc}") from None
        if not name:
            rt.log([f"Found {len(records)} artifact(s)"])
        merge = as_bool(self.get("merge-multiple"))
        for record in records:
            target = dest if name or merge else dest / record.name
            files = await asyncio.to_thread(store.download, run_id, record.name, target)
            rt.log([f"Artifact download completed successfully: {record.name} ({len(files)} file(s)) -> {target}"])
        rt.log([f"Total of {len(records)} artifact(s) downloaded", "Download artifact has finished successfully"])
        set_output(rt, "download-path", str(dest))
        return "success"
