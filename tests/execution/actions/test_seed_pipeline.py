"""The PHEME main pipeline from the seed runs unmodified on a small Node project.

Only ``node-version`` is changed, to the installed major (Pheme never
downloads Node). The project's scripts are plain node, and ``npm ci`` with a
zero-dependency lock file needs no network. AWS keys must never reach a log.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pheme.execution.actions.builtins import BuiltinServices
from pheme.storage.objectstore.memory import MemoryObjectStore

from .conftest import run_workflow, write

SEED = Path(__file__).resolve().parents[4] / "shared" / "seed" / "000_34dc1426e237b19c.txt"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("npm") is None or shutil.which("node") is None, reason="needs node and npm"
    ),
]

SCRIPTS = {
    "lint": "node scripts/check.js lint",
    "prettier:check": "node scripts/check.js prettier",
    "test": "node scripts/check.js test",
    "test:integration": "node scripts/check.js integration",
    "build": "node scripts/build.js",
    "deploy:staging": "node scripts/deploy.js staging",
    "deploy:production": "node scripts/deploy.js production",
}


def project(root: Path) -> Path:
    package = {"name": "pheme-fixture", "version": "1.0.0", "private": True, "scripts": SCRIPTS}
    lock = {
        "name": "pheme-fixture",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "pheme-fixture", "version": "1.0.0"}},
    }
    return write(
        root,
        {
            "package.json": json.dumps(package, indent=2),
            "package-lock.json": json.dumps(lock, indent=2),
            "src/index.js": "module.exports = (a, b) => a + b;\n",
            "scripts/check.js": """
                const add = require('../src/index.js');
                const what = process.argv[2];
                if (add(2, 3) !== 5) { console.error(what + ' failed'); process.exit(1); }
                console.log(what + ' passed');
            """,
            "scripts/build.js": """
                const fs = require('fs');
                fs.mkdirSync('dist', { recursive: true });
                fs.copyFileSync('src/index.js', 'dist/index.js');
                console.log('build done');
            """,
            "scripts/deploy.js": """
                const target = process.argv[2];
                for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
                  if (!process.env[k]) { console.error('missing ' + k); process.exit(1); }
                }
                console.log(`deploying to ${target} in ${process.env.AWS_REGION} with key ${process.env.AWS_ACCESS_KEY_ID}`);
            """,
        },
    )


def main_pipeline() -> str:
    if not SEED.is_file():
        pytest.skip(f"seed not found at {SEED}")
    text = SEED.read_text()
    block = re.search(r"### Main Pipeline\s*```yaml\n(.*?)```", text, re.S)
    assert block, "the seed's main pipeline block"
    major = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major = major.lstrip("v").split(".")[0]
    workflow = block.group(1)
    assert "node-version: '16.x'" in workflow
    return workflow.replace("node-version: '16.x'", f"node-version: '{major}.x'")


SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAPHEMETESTKEY0001",
    "AWS_SECRET_ACCESS_KEY": "pHeMe/SeCrEt+Value/0123456789abcdefghij",
    "AWS_REGION": "eu-central-1",
    "SNYK_TOKEN": "snyk-token-123456",
}


@pytest.mark.parametrize(
    ("ref", "deployed", "skipped"),
    [
        ("refs/heads/main", "deploy-production", "deploy-staging"),
        ("refs/heads/develop", "deploy-staging", "deploy-production"),
    ],
)
def test_seed_pipeline_runs_and_never_logs_aws_keys(
    tmp_path: Path, ref: str, deployed: str, skipped: str
) -> None:
    ws = project(tmp_path / "ws")
    out = run_workflow(
        main_pipeline(),
        ws,
        ref=ref,
        secrets=SECRETS,
        services=BuiltinServices(store=MemoryObjectStore(), run_key="seed"),
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    log = out.log
    assert out.result.conclusion == "success", log[-3000:]
    assert out.result.job("ci").conclusion == "success"
    assert out.result.job(deployed).conclusion == "success"
    assert out.result.job(skipped).conclusion == "skipped"
    for phrase in ("lint passed", "prettier passed", "test passed", "integration passed", "build done"):
        assert phrase in log
    target = "production" if deployed == "deploy-production" else "staging"
    assert f"deploying to {target} in *** with key ***" in log  # the region is a secret too
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SNYK_TOKEN"):
        assert SECRETS[name] not in log
    assert "Pheme built-in actions/setup-node" in log
    assert (ws / "dist" / "index.js").is_file()
