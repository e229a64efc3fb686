"""``pheme server``, ``pheme repo``, ``pheme token``, ``pheme push`` and ``pheme hook install``.

Thin: parse flags, call :mod:`pheme.services` (heavy imports inside the
commands), print. ``pheme token create`` prints the new token as the LAST line
of its output (scripts take ``| tail -1``); it is never shown again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _settings(config: Path | None = None, **overrides: Any) -> Any:
    from pheme.services.server_settings import load_settings

    return load_settings(config, **overrides)


def _server(config: Path | None = None) -> Any:
    from pheme.services.server import PipelineServer

    return PipelineServer(_settings(config), workers=False)


ConfigOpt = typer.Option(None, "--config", help="Server configuration file (TOML).", dir_okay=False)


def register(app: typer.Typer) -> None:
    @app.command("server")
    def server_cmd(
        host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
        port: int = typer.Option(None, "--port", help="Port to listen on (default 8080)."),
        config: Path = ConfigOpt,
    ) -> None:
        """Run the pipeline server (API, webhooks, queue, scheduler)."""
        from pheme.api.serve import serve

        serve(_settings(config, host=host, port=port))

    repo_app = typer.Typer(name="repo", help="Repositories the server builds.", no_args_is_help=True,
                           add_completion=False, rich_markup_mode=None)  # fmt: skip
    app.add_typer(repo_app)

    @repo_app.command("add")
    def repo_add(
        name: str = typer.Argument(..., help="owner/repo (matched against the webhook's repository.full_name)."),
        source: str = typer.Argument(..., help="A local path or a git URL the server can fetch."),
        webhook_secret: str = typer.Option(None, "--webhook-secret", help="GitHub webhook secret (else one is generated for pheme push)."),
        github_token_env: str = typer.Option(None, "--github-token-env", help="Environment variable holding a GitHub token (commit statuses)."),
        config: Path = ConfigOpt,
    ) -> None:
        """Register a repository."""
        server = _server(config)
        try:
            repo = server.add_repo(name, source, webhook_secret=webhook_secret, github_token_env=github_token_env)
        finally:
            server.close()
        typer.echo(f"added {repo.name} ({repo.source})")

    @repo_app.command("list")
    def repo_list(json_out: bool = typer.Option(False, "--json"), config: Path = ConfigOpt) -> None:
        """List registered repositories."""
        import json

        server = _server(config)
        try:
            repos = server.sstore.list_repos()
        finally:
            server.close()
        if json_out:
            from pheme.services.server import repo_json

            typer.echo(json.dumps([repo_json(r) for r in repos]))
            return
        for r in repos:
            typer.echo(f"{r.name}\t{r.source}")

    @repo_app.command("remove")
    def repo_remove(name: str = typer.Argument(...), config: Path = ConfigOpt) -> None:
        """Unregister a repository (its runs stay in the history)."""
        server = _server(config)
        try:
            server.remove_repo(name, actor="cli")
        finally:
            server.close()
        typer.echo(f"removed {name}")

    token_app = typer.Typer(name="token", help="API tokens.", no_args_is_help=True, add_completion=False,
                            rich_markup_mode=None)  # fmt: skip
    app.add_typer(token_app)

    @token_app.command("create")
    def token_create(
        role: str = typer.Option(..., "--role", help="viewer | developer | deployer | admin"),
        name: str = typer.Option(None, "--name", help="Who the token is for (the user name in the audit log)."),
        config: Path = ConfigOpt,
    ) -> None:
        """Create an API token; the token is the last line of the output (shown once)."""
        from pheme.core.server import parse_role

        parsed = parse_role(role)
        server = _server(config)
        try:
            record, token = server.create_token(parsed, name)
        finally:
            server.close()
        typer.echo(f"created token {record.id} '{record.name}' with role {record.role.label} (shown once):")
        typer.echo(token)

    @token_app.command("list")
    def token_list(json_out: bool = typer.Option(False, "--json"), config: Path = ConfigOpt) -> None:
        """List tokens (never the tokens themselves)."""
        import json

        from pheme.services.server import token_json

        server = _server(config)
        try:
            tokens = server.sstore.list_tokens()
        finally:
            server.close()
        if json_out:
            typer.echo(json.dumps([token_json(t) for t in tokens]))
            return
        for t in tokens:
            typer.echo(f"{t.id}\t{t.name}\t{t.role.label}{'  (revoked)' if t.revoked else ''}")

    @token_app.command("revoke")
    def token_revoke(token_id: int = typer.Argument(...), config: Path = ConfigOpt) -> None:
        """Revoke a token by id."""
        server = _server(config)
        try:
            server.revoke_token(token_id, actor="cli")
        finally:
            server.close()
        typer.echo(f"revoked token {token_id}")

    @app.command("push")
    def push_cmd(
        updates: list[str] = typer.Argument(None, help="OLD NEW REF (else read 'old new ref' lines from stdin, as git's post-receive gives them)."),
        repo: str = typer.Option(None, "--repo", help="owner/repo as registered (default: the one whose source is this repository)."),
        git_dir: Path = typer.Option(None, "--git-dir", help="The repository (default: $GIT_DIR or the current directory)."),
        server_url: str = typer.Option(None, "--server", help="The server's URL (default: from the configuration)."),
        config: Path = ConfigOpt,
    ) -> None:
        """Tell the server about pushed refs (signed push webhooks), e.g. from a post-receive hook."""
        from pheme.services.push import push_refs, read_updates

        if updates:
            if len(updates) % 3:
                from pheme.errors import UsageError

                raise UsageError("pheme push: give OLD NEW REF (three values per ref)")
            triples = [tuple(updates[i : i + 3]) for i in range(0, len(updates), 3)]
        else:
            triples = read_updates(sys.stdin.read())
        settings = _settings(config)
        for line in push_refs(settings, triples, repo_name=repo, git_dir=git_dir, server_url=server_url):
            typer.echo(line)

    hook_app = typer.Typer(name="hook", help="Git hooks for repositories on this machine.", no_args_is_help=True,
                           add_completion=False, rich_markup_mode=None)  # fmt: skip
    app.add_typer(hook_app)

    @hook_app.command("install")
    def hook_install(
        repo: str = typer.Argument(..., help="owner/repo as registered (its SOURCE must be a local path)."),
        server_url: str = typer.Option(None, "--server", help="The server's URL (default: from the configuration)."),
        config: Path = ConfigOpt,
    ) -> None:
        """Install a post-receive hook that runs 'pheme push' for every push."""
        from pheme.services.push import install_hook

        path = install_hook(_settings(config), repo, server_url=server_url)
        typer.echo(f"installed {path}")
