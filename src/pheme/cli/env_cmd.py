"""``pheme env``: a repository's deployment environments, their secrets and variables.

An environment belongs to a repository (``--repo owner/name``), as on GitHub;
``--default`` names the server-wide defaults instead (they apply to every
repository without an environment of that name). The commands work on the
server's database directly, like ``pheme repo`` (audited as ``cli``)::

    pheme env list --repo acme/web [--json]
    pheme env set production --repo acme/web --reviewer alice --reviewer-role admin --branch main
    pheme env show production --repo acme/web [--json]
    pheme env remove production --repo acme/web
    pheme env secret set production DEPLOY_TOKEN --repo acme/web      # the value from stdin (or a prompt)
    pheme env secret list production --repo acme/web [--json]
    pheme env var set production REGION eu-west --repo acme/web
    pheme env var list production --repo acme/web [--json]

Thin: parse, call :mod:`pheme.services`, print. Secret values are never printed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]

ConfigOpt = typer.Option(None, "--config", help="Server configuration file (TOML).", dir_okay=False)
RepoOpt = typer.Option(None, "--repo", "-R", help="The repository (owner/name) the environment belongs to.")
DefaultOpt = typer.Option(False, "--default", help="The server-wide default (for repositories without their own).")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


@contextmanager
def _server(config: Path | None) -> Iterator[Any]:
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    server = PipelineServer(load_settings(config), workers=False)
    try:
        yield server
    finally:
        server.close()


def _owner(server: Any, repo: str | None, default: bool) -> Any:
    """The repository named by ``--repo`` (None with ``--default``); one-line errors otherwise."""
    from pheme.errors import UsageError
    from pheme.services.server import validate_repo_name

    if default and repo:
        raise UsageError("give either --repo or --default, not both")
    if default:
        return None
    if not repo:
        raise UsageError("give --repo OWNER/NAME (or --default for the server-wide defaults)")
    return server.sstore.get_repo(validate_repo_name(repo))


def _environment(server: Any, owner: Any, name: str) -> Any:
    return server.sstore.get_environment(name, repo_id=None if owner is None else owner.id)


def _label(owner: Any, name: str) -> str:
    return f"server-wide default environment {name}" if owner is None else f"environment {name} of {owner.name}"


def _print_json(data: Any) -> None:
    import json

    typer.echo(json.dumps(data, indent=None, sort_keys=False))


def _describe(env: Any) -> str:
    rules = env.rules
    parts = [
        f"reviewers: {', '.join(rules.reviewers) or '-'}",
        f"reviewer roles: {', '.join(rules.reviewer_roles) or '-'}",
        f"self-review: {'prevented' if rules.prevent_self_review else 'allowed'}",
        f"wait timer: {rules.wait_timer}s",
        f"branches: {'any' if rules.branches is None else ', '.join(rules.branches) or 'none'}",
    ]
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    env_app = typer.Typer(name="env", help="A repository's deployment environments (protection rules, secrets, variables).",
                          no_args_is_help=True, add_completion=False, rich_markup_mode=None)  # fmt: skip
    app.add_typer(env_app)

    @env_app.command("list")
    def env_list(repo: str = RepoOpt, default: bool = DefaultOpt, json_out: bool = JsonOpt,
                 config: Path = ConfigOpt) -> None:  # fmt: skip
        """List a repository's environments and the defaults that apply to it."""
        from pheme.services.server import environment_json

        with _server(config) as server:
            owner = _owner(server, repo, default)
            own = server.sstore.list_environments(None if owner is None else owner.id)
            names = {e.name for e in own}
            defaults = [] if owner is None else [e for e in server.sstore.list_environments() if e.name not in names]
        if json_out:
            data: dict[str, Any] = {"environments": [environment_json(e) for e in own]}
            if owner is not None:
                data = {"repository": owner.name, **data, "defaults": [environment_json(e) for e in defaults]}
            _print_json(data)
            return
        for e in own:
            typer.echo(f"{e.name}\t{_describe(e)}")
        for e in defaults:
            typer.echo(f"{e.name}\t(server-wide default) {_describe(e)}")

    @env_app.command("show")
    def env_show(name: str = typer.Argument(..., help="Environment name."), repo: str = RepoOpt,
                 default: bool = DefaultOpt, json_out: bool = JsonOpt, config: Path = ConfigOpt) -> None:  # fmt: skip
        """Show an environment: its rules, secret names and variables."""
        from pheme.services.server import environment_json

        with _server(config) as server:
            env = _environment(server, _owner(server, repo, default), name)
        if json_out:
            _print_json(environment_json(env))
            return
        typer.echo(f"{env.name} ({env.repository or 'server-wide default'})")
        typer.echo(_describe(env))
        if env.url:
            typer.echo(f"url: {env.url}")
        typer.echo(f"secrets: {', '.join(env.secret_names) or '-'}")
        typer.echo("variables: " + (", ".join(f"{k}={v}" for k, v in sorted(env.variables.items())) or "-"))

    @env_app.command("set")
    def env_set(
        name: str = typer.Argument(..., help="Environment name (letters, digits, _ . -)."),
        repo: str = RepoOpt,
        default: bool = DefaultOpt,
        reviewer: list[str] = typer.Option(None, "--reviewer", help="A user (token name) who may approve (repeatable)."),
        reviewer_role: list[str] = typer.Option(None, "--reviewer-role", help="A role whose holders may approve (repeatable)."),
        prevent_self_review: bool = typer.Option(False, "--prevent-self-review", help="Whoever triggered the run may not approve it."),
        wait_timer: int = typer.Option(0, "--wait-timer", min=0, max=30 * 24 * 3600, help="Seconds to wait after approval."),
        branch: list[str] = typer.Option(None, "--branch", help="Branch pattern allowed to deploy (repeatable; default: any)."),
        url: str = typer.Option(None, "--url", help="The environment's URL."),
        config: Path = ConfigOpt,
    ) -> None:  # fmt: skip
        """Create or replace an environment (options not given take their defaults, as the API's PUT)."""
        from pheme.core.server import EnvironmentRules, parse_role

        roles = tuple(parse_role(r).label for r in reviewer_role or ())
        rules = EnvironmentRules(reviewers=tuple(reviewer or ()), reviewer_roles=roles,
                                 prevent_self_review=prevent_self_review, wait_timer=wait_timer,
                                 branches=tuple(branch) if branch else None)  # fmt: skip
        with _server(config) as server:
            owner = _owner(server, repo, default)
            env = server.put_environment(name, rules, url or None, actor="cli", repo=owner)
        typer.echo(f"set {_label(owner, env.name)}: {_describe(env)}")

    @env_app.command("remove")
    def env_remove(name: str = typer.Argument(...), repo: str = RepoOpt, default: bool = DefaultOpt,
                   config: Path = ConfigOpt) -> None:  # fmt: skip
        """Remove an environment with its secrets and variables."""
        with _server(config) as server:
            owner = _owner(server, repo, default)
            server.delete_environment(name, actor="cli", repo=owner)
        typer.echo(f"removed {_label(owner, name)}")

    secret_app = typer.Typer(name="secret", help="An environment's secrets (values are never shown).",
                             no_args_is_help=True, add_completion=False, rich_markup_mode=None)  # fmt: skip
    env_app.add_typer(secret_app)

    @secret_app.command("set")
    def secret_set(
        environment: str = typer.Argument(...),
        name: str = typer.Argument(..., help="Secret name."),
        repo: str = RepoOpt,
        default: bool = DefaultOpt,
        value: str = typer.Option(None, "--value", help="The value (default: read from stdin, or asked for)."),
        config: Path = ConfigOpt,
    ) -> None:
        """Set a secret of an environment (the value from stdin keeps it out of shell history)."""
        if value is None:
            if sys.stdin.isatty():
                value = typer.prompt(f"value of {name}", hide_input=True)
            else:
                value = sys.stdin.read()
                value = value[:-1] if value.endswith("\n") else value
        with _server(config) as server:
            owner = _owner(server, repo, default)
            env = _environment(server, owner, environment)
            server.put_secret(env.scope, name, value, actor="cli")
        typer.echo(f"set secret {name} of {_label(owner, environment)}")

    @secret_app.command("list")
    def secret_list(environment: str = typer.Argument(...), repo: str = RepoOpt, default: bool = DefaultOpt,
                    json_out: bool = JsonOpt, config: Path = ConfigOpt) -> None:  # fmt: skip
        """List the names of an environment's secrets."""
        with _server(config) as server:
            env = _environment(server, _owner(server, repo, default), environment)
        if json_out:
            _print_json({"secrets": list(env.secret_names)})
            return
        for secret in env.secret_names:
            typer.echo(secret)

    @secret_app.command("remove")
    def secret_remove(environment: str = typer.Argument(...), name: str = typer.Argument(...), repo: str = RepoOpt,
                      default: bool = DefaultOpt, config: Path = ConfigOpt) -> None:  # fmt: skip
        """Remove a secret of an environment."""
        with _server(config) as server:
            owner = _owner(server, repo, default)
            env = _environment(server, owner, environment)
            server.delete_value("secret", env.scope, name, actor="cli")
        typer.echo(f"removed secret {name} of {_label(owner, environment)}")

    var_app = typer.Typer(name="var", help="An environment's variables.", no_args_is_help=True,
                          add_completion=False, rich_markup_mode=None)  # fmt: skip
    env_app.add_typer(var_app)

    @var_app.command("set")
    def var_set(environment: str = typer.Argument(...), name: str = typer.Argument(...),
                value: str = typer.Argument(...), repo: str = RepoOpt, default: bool = DefaultOpt,
                config: Path = ConfigOpt) -> None:  # fmt: skip
        """Set a variable of an environment (``${{ vars.NAME }}`` in its jobs)."""
        with _server(config) as server:
            owner = _owner(server, repo, default)
            env = _environment(server, owner, environment)
            server.put_variable(env.scope, name, value, actor="cli")
        typer.echo(f"set variable {name} of {_label(owner, environment)}")

    @var_app.command("list")
    def var_list(environment: str = typer.Argument(...), repo: str = RepoOpt, default: bool = DefaultOpt,
                 json_out: bool = JsonOpt, config: Path = ConfigOpt) -> None:  # fmt: skip
        """List an environment's variables."""
        with _server(config) as server:
            env = _environment(server, _owner(server, repo, default), environment)
        if json_out:
            _print_json({"variables": dict(env.variables)})
            return
        for key, val in sorted(env.variables.items()):
            typer.echo(f"{key}={val}")

    @var_app.command("remove")
    def var_remove(environment: str = typer.Argument(...), name: str = typer.Argument(...), repo: str = RepoOpt,
                   default: bool = DefaultOpt, config: Path = ConfigOpt) -> None:  # fmt: skip
        """Remove a variable of an environment."""
        with _server(config) as server:
            owner = _owner(server, repo, default)
            env = _environment(server, owner, environment)
            server.delete_value("variable", env.scope, name, actor="cli")
        typer.echo(f"removed variable {name} of {_label(owner, environment)}")
