"""``pheme env``: a repository's environments, their secrets and variables, from the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pheme.cli import main


@pytest.fixture(autouse=True)
def server_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("PHEME_CONFIG", "PHEME_PORT", "PHEME_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PHEME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PHEME_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("PHEME_SECRET_KEY", "k")
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    server = PipelineServer(load_settings(None), workers=False)
    try:
        for name in ("web", "api"):
            (tmp_path / name).mkdir()
            server.add_repo(f"acme/{name}", str(tmp_path / name))
    finally:
        server.close()
    return tmp_path / "s.db"


def pheme(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def pheme_ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = pheme(capsys, *args)
    assert code == 0, err
    return out


def test_each_repository_gets_its_own_environment_of_the_same_name(capsys: pytest.CaptureFixture[str]) -> None:
    out = pheme_ok(capsys, "env", "set", "production", "--repo", "acme/web", "--reviewer", "alice",
                   "--reviewer-role", "admin", "--prevent-self-review", "--wait-timer", "30", "--branch", "main")  # fmt: skip
    assert out.startswith("set environment production of acme/web: reviewers: alice; reviewer roles: admin")
    pheme_ok(capsys, "env", "set", "production", "--repo", "acme/api", "--reviewer", "bob")
    pheme_ok(capsys, "env", "set", "staging", "--default", "--wait-timer", "5")
    web = json.loads(pheme_ok(capsys, "env", "list", "--repo", "acme/web", "--json"))
    api = json.loads(pheme_ok(capsys, "env", "list", "--repo", "acme/api", "--json"))
    assert web["repository"] == "acme/web"
    assert [(e["name"], e["reviewers"], e["wait_timer"], e["branches"]) for e in web["environments"]] == [
        ("production", ["alice"], 30, ["main"])
    ]
    assert [(e["name"], e["reviewers"]) for e in api["environments"]] == [("production", ["bob"])]
    assert [(e["name"], e["default"]) for e in web["defaults"]] == [("staging", True)]
    plain = pheme_ok(capsys, "env", "list", "--repo", "acme/api").splitlines()
    assert plain[0].startswith("production\treviewers: bob;") and plain[1].startswith("staging\t(server-wide default)")
    defaults = json.loads(pheme_ok(capsys, "env", "list", "--default", "--json"))
    assert [e["name"] for e in defaults["environments"]] == ["staging"]
    assert pheme_ok(capsys, "env", "remove", "production", "--repo", "acme/api") == (
        "removed environment production of acme/api\n"
    )
    assert json.loads(pheme_ok(capsys, "env", "show", "production", "--repo", "acme/web", "--json"))["reviewers"] == [
        "alice"
    ]


def test_secrets_come_from_stdin_are_stored_sealed_and_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, server_db: Path
) -> None:
    pheme_ok(capsys, "env", "set", "production", "--repo", "acme/web")
    monkeypatch.setattr("sys.stdin", io.StringIO("tok-123456\n"))
    out = pheme_ok(capsys, "env", "secret", "set", "production", "DEPLOY_TOKEN", "--repo", "acme/web")
    assert out == "set secret DEPLOY_TOKEN of environment production of acme/web\n"
    pheme_ok(capsys, "env", "var", "set", "production", "REGION", "eu-west", "--repo", "acme/web")
    assert b"tok-123456" not in server_db.read_bytes()
    assert json.loads(pheme_ok(capsys, "env", "secret", "list", "production", "--repo", "acme/web", "--json")) == {
        "secrets": ["DEPLOY_TOKEN"]
    }
    assert pheme_ok(capsys, "env", "var", "list", "production", "--repo", "acme/web") == "REGION=eu-west\n"
    shown = pheme_ok(capsys, "env", "show", "production", "--repo", "acme/web")
    assert "secrets: DEPLOY_TOKEN" in shown and "REGION=eu-west" in shown and "tok-123456" not in shown
    # the same names in another repository's environment are another environment's
    pheme_ok(capsys, "env", "set", "production", "--repo", "acme/api")
    assert pheme_ok(capsys, "env", "secret", "list", "production", "--repo", "acme/api") == ""
    pheme_ok(capsys, "env", "secret", "remove", "production", "DEPLOY_TOKEN", "--repo", "acme/web")
    pheme_ok(capsys, "env", "var", "remove", "production", "REGION", "--repo", "acme/web")
    assert json.loads(pheme_ok(capsys, "env", "var", "list", "production", "--repo", "acme/web", "--json")) == {
        "variables": {}
    }

    from pheme.services.secretbox import SecretBox
    from pheme.storage import open_store
    from pheme.storage.server import ServerStore

    monkeypatch.setattr("sys.stdin", io.StringIO("tok-654321"))  # no trailing newline: taken as it is
    pheme_ok(capsys, "env", "secret", "set", "production", "OTHER", "--repo", "acme/api")
    with open_store(f"sqlite:///{server_db}") as store:
        sstore = ServerStore(store)
        audit = sstore.list_audit(action="secret.put")
        api = sstore.get_environment("production", repo_id=sstore.get_repo("acme/api").id)
        sealed = sstore.values("secret", api.scope)["OTHER"]
    assert [(a.actor, a.target) for a in audit] == [
        ("cli", "acme/api environment production/OTHER"), ("cli", "acme/web environment production/DEPLOY_TOKEN"),
    ]  # fmt: skip
    assert SecretBox(b"k").open(sealed) == "tok-654321"  # sealed with the server's key (PHEME_SECRET_KEY)


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("env", "list"), "give --repo OWNER/NAME (or --default for the server-wide defaults)", 2),
        (("env", "list", "--repo", "acme/web", "--default"), "give either --repo or --default, not both", 2),
        (("env", "list", "--repo", "acme/nope"), "repository acme/nope not found", 1),
        (("env", "list", "--repo", "nope"), "repository name must be owner/repo (got 'nope')", 2),
        (("env", "show", "production", "--repo", "acme/web"), "environment production not found in acme/web", 1),
        (("env", "remove", "production", "--repo", "acme/web"), "environment production not found in acme/web", 1),
        (("env", "show", "production", "--default"), "environment production not found", 1),
        (("env", "var", "set", "production", "X", "1", "--repo", "acme/web"),
         "environment production not found in acme/web", 1),
        (("env", "secret", "set", "production", "X", "--value", "v", "--repo", "acme/nope"),
         "repository acme/nope not found", 1),
        (("env", "set", "bad name", "--repo", "acme/web"), "environment names use letters, digits and _ . -", 2),
        (("env", "set", "production", "--repo", "acme/web", "--reviewer-role", "root"),
         "unknown role 'root' (expected viewer, developer, deployer or admin)", 2),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_errors(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str,
                                      code: int) -> None:  # fmt: skip
    got, out, err = pheme(capsys, *args)
    assert (got, err) == (code, f"pheme: {message}\n")
    assert out == ""
