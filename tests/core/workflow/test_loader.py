"""The loader: the model built from real workflows, and every kind of problem with GitHub's words."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pheme.core.workflow import LoadOptions, parse_workflow, validate_workflow
from pheme.core.workflow.model import Environment, Workflow
from pheme.errors import Problem, WorkflowError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "workflows"
PATH = ".github/workflows/x.yml"


def problems(text: str, **options: object) -> list[Problem]:
    return validate_workflow(textwrap.dedent(text), PATH, options=LoadOptions(**options))[1]  # type: ignore[arg-type]


def messages(text: str, **options: object) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.message) for p in problems(text, **options)]


def load(text: str) -> Workflow:
    return parse_workflow(textwrap.dedent(text), PATH)


# ------------------------------------------------------------------ the seed's workflows


def test_main_pipeline_model() -> None:
    wf = parse_workflow((FIXTURES / "pheme-ci-cd.yml").read_text(), ".github/workflows/ci.yml")
    assert wf.name == "PHEME CI/CD Pipeline"
    assert wf.display_name == "PHEME CI/CD Pipeline"
    assert list(wf.on) == ["push", "pull_request"]
    assert wf.on["push"].branches == ("main", "develop")
    assert wf.on["push"].paths is None  # absent filter = not given
    assert wf.on["pull_request"].branches == ("main", "develop")
    assert list(wf.jobs) == ["ci", "deploy-staging", "deploy-production"]
    ci = wf.jobs["ci"]
    assert ci.runs_on == "ubuntu-latest"
    assert ci.needs == ()
    assert [s.display_name for s in ci.steps] == [
        "Run actions/checkout@v3",
        "Setup Node.js",
        "Install Dependencies",
        "Lint",
        "Test",
        "Build",
        "Security Scan",
    ]
    assert ci.steps[1].with_ == {"node-version": "16.x"}
    assert ci.steps[3].run == "npm run lint\nnpm run prettier:check\n"
    assert ci.steps[6].env == {"SNYK_TOKEN": "${{ secrets.SNYK_TOKEN }}"}
    staging = wf.jobs["deploy-staging"]
    assert staging.needs == ("ci",)
    assert staging.if_ == "github.ref == 'refs/heads/develop'"
    prod = wf.jobs["deploy-production"]
    assert prod.environment == "production"
    assert prod.steps[0].with_["aws-region"] == "${{ secrets.AWS_REGION }}"
    # Positions point at the key that introduced each item (1-based).
    assert (ci.pos.line, ci.pos.col) == (10, 3)
    assert (ci.steps[0].pos.line, ci.steps[0].pos.col) == (14, 9)


def test_contract_deployment_model() -> None:
    wf = parse_workflow((FIXTURES / "smart-contract-deploy.yml").read_text(), ".github/workflows/deploy.yml")
    assert wf.name == "Smart Contract Deployment"
    push = wf.on["push"]
    assert push.paths == ("contracts/**",)
    assert push.branches == ("main",)
    job = wf.jobs["deploy-contracts"]
    assert [s.if_ for s in job.steps][-2:] == [
        "github.ref == 'refs/heads/develop'",
        "github.ref == 'refs/heads/main'",
    ]
    assert job.steps[-1].env == {"PRIVATE_KEY": "${{ secrets.DEPLOY_PRIVATE_KEY }}"}
    assert job.steps[2].run == "npm ci"


def test_full_syntax_maps_to_the_model() -> None:
    wf = load(
        """\
        name: Full
        run-name: Deploy ${{ inputs.target }}
        on:
          workflow_dispatch:
            inputs:
              target:
                type: choice
                options: [staging, production]
                default: staging
                required: true
              dry-run:
                type: boolean
                default: false
          schedule:
            - cron: '30 5 * * 1-5'
          release:
            types: [published]
        env:
          GLOBAL: "1"
        defaults:
          run:
            shell: bash
            working-directory: app
        concurrency:
          group: deploy-${{ github.ref }}
          cancel-in-progress: true
        permissions:
          contents: read
        jobs:
          build:
            name: Build ${{ matrix.os }}
            runs-on: ${{ matrix.os }}
            timeout-minutes: 30
            continue-on-error: ${{ matrix.experimental }}
            strategy:
              fail-fast: false
              max-parallel: 2
              matrix:
                os: [ubuntu-latest, windows-latest]
                python: [3.10, "3.12"]
                include:
                  - os: ubuntu-latest
                    experimental: true
            container:
              image: node:20
            services:
              db:
                image: postgres:16
                ports: ["5432:5432"]
            outputs:
              version: ${{ steps.v.outputs.version }}
            env:
              JOB: "2"
            steps:
              - id: v
                name: Version
                run: echo version=1 >> "$GITHUB_OUTPUT"
                shell: bash
                working-directory: src
                timeout-minutes: 5
                continue-on-error: true
                env:
                  STEP: three
              - uses: actions/setup-python@v5
                if: ${{ success() && matrix.os == 'ubuntu-latest' }}
                with:
                  python-version: 3.10
          deploy:
            needs: [build]
            if: github.event_name == 'workflow_dispatch'
            environment:
              name: ${{ inputs.target }}
              url: https://example.com
            runs-on: ubuntu-latest
            steps:
              - run: ./deploy.sh
          call:
            needs: build
            uses: ./.github/workflows/reusable.yml
            with:
              level: 3
            secrets: inherit
        """
    )
    assert wf.run_name == "Deploy ${{ inputs.target }}"
    dispatch = wf.on["workflow_dispatch"]
    assert dispatch.inputs["target"].type == "choice"
    assert dispatch.inputs["target"].options == ("staging", "production")
    assert dispatch.inputs["target"].required is True
    assert dispatch.inputs["dry-run"].default is False
    assert wf.on["schedule"].crons == ("30 5 * * 1-5",)
    assert wf.on["release"].types == ("published",)
    assert wf.env == {"GLOBAL": "1"}
    assert wf.defaults is not None and wf.defaults.shell == "bash" and wf.defaults.working_directory == "app"
    assert wf.concurrency is not None and wf.concurrency.cancel_in_progress is True
    assert wf.permissions == {"contents": "read"}
    build = wf.jobs["build"]
    assert build.timeout_minutes == 30
    assert build.continue_on_error == "${{ matrix.experimental }}"
    assert build.strategy is not None
    assert build.strategy.fail_fast is False and build.strategy.max_parallel == 2
    assert isinstance(build.strategy.matrix, dict)
    # Matrix values keep YAML types: 3.10 is the number 3.1, exactly as on GitHub.
    assert build.strategy.matrix["python"] == [3.1, "3.12"]
    assert build.container == {"image": "node:20"}
    assert build.services["db"]["ports"] == ["5432:5432"]
    assert build.outputs == {"version": "${{ steps.v.outputs.version }}"}
    step = build.steps[0]
    assert (step.id, step.shell, step.working_directory, step.timeout_minutes) == ("v", "bash", "src", 5)
    assert step.continue_on_error is True
    # `with:` values are strings, as GitHub passes them to actions: 3.10 becomes "3.1".
    assert build.steps[1].with_ == {"python-version": "3.1"}
    deploy = wf.jobs["deploy"]
    assert deploy.environment == Environment(name="${{ inputs.target }}", url="https://example.com")
    call = wf.jobs["call"]
    assert call.uses == "./.github/workflows/reusable.yml"
    assert call.with_ == {"level": 3}
    assert call.secrets == "inherit"
    assert call.needs == ("build",)


def test_short_and_list_forms_of_on() -> None:
    one = load("on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n")
    assert list(one.on) == ["push"]
    many = load("on: [push, pull_request]\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n")
    assert list(many.on) == ["push", "pull_request"]


def test_parse_workflow_raises_with_every_problem() -> None:
    with pytest.raises(WorkflowError) as info:
        load(
            """\
            on: push
            jobs:
              a:
                runs-on: x
                foo: 1
                steps: [{run: echo}]
              b:
                needs: zzz
                steps: [{run: echo}]
            """
        )
    found = [(p.line, p.message) for p in info.value.problems]
    assert (5, "Unexpected value 'foo'") in found
    assert (8, "Required property is missing: runs-on") in found
    assert (8, "Job 'b' depends on unknown job 'zzz'.") in found
    assert all(p.file == PATH for p in info.value.problems)
    assert str(info.value).startswith(f"{PATH}:5:5: Unexpected value 'foo'")


def test_validate_returns_no_model_when_invalid() -> None:
    wf, found = validate_workflow("on: push\n", PATH)
    assert wf is None
    assert [(p.line, p.col, p.message) for p in found] == [(1, 1, "Required property is missing: jobs")]


# ------------------------------------------------------------------ problem kinds


def test_unknown_keys() -> None:
    assert messages(
        """\
        on: push
        jobz: {}
        jobs:
          a:
            runs-on: x
            steps:
              - runn: echo
        """
    ) == [
        (2, 1, "Unexpected value 'jobz'"),
        (7, 9, "Unexpected value 'runn'"),
        (
            7,
            9,
            "There's not enough info to determine what you meant. Add one of these properties: "
            "parallel, run, shell, uses, with, working-directory",
        ),
    ]


def test_wrong_types() -> None:
    assert messages(
        """\
        on: push
        env: [A]
        jobs:
          a:
            runs-on: {labels: x, bogus: y}
            timeout-minutes: soon
            steps:
              run: echo
        """
    ) == [
        (2, 6, "A sequence was not expected"),
        (5, 26, "Unexpected value 'bogus'"),
        (6, 22, "Unexpected value 'soon'"),
        (8, 7, "A mapping was not expected"),
    ]


def test_required_properties() -> None:
    assert messages("jobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n") == [
        (1, 1, "Required property is missing: on")
    ]
    # GitHub places a mapping's problems at its first key.
    assert (4, 5, "Required property is missing: runs-on") in messages(
        "on: push\njobs:\n  a:\n    steps: [{run: echo}]\n"
    )


def test_duplicate_keys_are_refused_case_insensitively() -> None:
    assert messages(
        """\
        on: push
        jobs:
          a:
            runs-on: x
            Runs-On: y
            steps: [{run: echo}]
        """
    ) == [(5, 5, "'Runs-On' is already defined")]


def test_bad_job_ids() -> None:
    found = messages("on: push\njobs:\n  1st:\n    runs-on: x\n    steps: [{run: echo}]\n")
    assert found == [
        (
            3,
            3,
            "The identifier '1st' is invalid. IDs may only contain alphanumeric characters, '_', and '-'. "
            "IDs must start with a letter or '_' and and must be less than 100 characters.",
        )
    ]
    reserved = messages("on: push\njobs:\n  __x:\n    runs-on: x\n    steps: [{run: echo}]\n")
    assert reserved == [(3, 3, "The identifier '__x' is invalid. IDs starting with '__' are reserved.")]


def test_duplicate_step_ids() -> None:
    found = messages(
        """\
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - {id: one, run: echo}
              - {id: ONE, run: echo}
        """
    )
    assert found == [(7, 14, "The identifier 'ONE' may not be used more than once within the same scope.")]


def test_needs_cycle_uses_githubs_words() -> None:
    found = messages(
        """\
        on: push
        jobs:
          one:
            runs-on: x
            steps: [{run: echo}]
          two:
            needs: [one, three]
            runs-on: x
            steps: [{run: echo}]
          three:
            needs: two
            runs-on: x
            steps: [{run: echo}]
        """
    )
    assert found == [
        (7, 18, "Job 'two' depends on job 'three' which creates a cycle in the dependency graph."),
        (11, 12, "Job 'three' depends on job 'two' which creates a cycle in the dependency graph."),
    ]
    no_start = messages("on: push\njobs:\n  a:\n    needs: a\n    runs-on: x\n    steps: [{run: e}]\n")
    assert no_start == [(3, 3, "The workflow must contain at least one job with no dependencies.")]


def test_missing_steps() -> None:
    assert messages("on: push\njobs:\n  build:\n    runs-on: x\n") == [
        (3, 3, "No steps defined in `steps` and no workflow called in `uses` for the following jobs: build")
    ]
    assert messages("on: push\njobs:\n  build:\n    runs-on: x\n", require_steps=False) == []


def test_invalid_cron_is_reported_at_the_cron_value() -> None:
    found = messages(
        """\
        on:
          schedule:
            - cron: '61 * * * *'
            - cron: '*/2 * * * *'
            - cron: '0 12 * * mon-fri'
        jobs:
          a:
            runs-on: x
            steps: [{run: echo}]
        """
    )
    assert found[0] == (
        3,
        13,
        "Invalid cron expression. Expected format: '* * * * *' (minute hour day month weekday)",
    )
    assert found[1][:2] == (4, 13)
    assert "more often than every 5 minutes" in found[1][2]
    assert len(found) == 2


def test_expression_errors() -> None:
    found = messages(
        """\
        on: push
        jobs:
          a:
            runs-on: ${{ matrix.os
            env:
              X: ${{ }}
              Y: ${{ 1 + }}
            steps: [{run: echo}]
        """
    )
    assert found[0] == (
        4,
        14,
        "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence "
        "was not found.",
    )
    assert found[1] == (6, 10, "An expression was expected")
    assert found[2][:2] == (7, 10)
    assert "Located at position" in found[2][2]


def test_expression_not_allowed_here() -> None:
    found = messages(
        """\
        name: Build ${{ format('{0}', 'x') }}
        on: push
        jobs:
          a:
            runs-on: x
            steps: [{run: echo}]
        """
    )
    assert found == [(1, 7, "A template expression is not allowed in this context")]


def test_contexts_not_available_at_the_key() -> None:
    found = messages(
        """\
        on: push
        env:
          OS: ${{ matrix.os }}
        jobs:
          a:
            if: secrets.TOKEN != ''
            runs-on: x
            steps:
              - run: echo
                if: ${{ hashFiles('x') != '' }}
              - run: echo ${{ hashFiles('y') }}
                env:
                  A: ${{ steps.x.outputs.y }}
        """
    )
    assert found == [
        (3, 7, "Unrecognized named-value: 'matrix'. Located at position 1 within expression: matrix.os"),
        (
            6,
            9,
            "Unrecognized named-value: 'secrets'. Located at position 1 within expression: secrets.TOKEN != ''",
        ),
    ]


def test_status_functions_only_in_if() -> None:
    found = messages(
        """\
        on: push
        jobs:
          a:
            if: always()
            runs-on: x
            env:
              S: ${{ success() }}
            steps:
              - run: echo
                if: failure() || cancelled()
        """
    )
    assert [(line, msg.split(".")[0]) for line, _c, msg in found] == [(7, "Unrecognized function: 'success'")]


def test_action_reference_format() -> None:
    found = messages(
        """\
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: actions/checkout@v4
              - uses: docker://alpine:3
              - uses: ./local
              - uses: checkout@v4
        """
    )
    assert found == [(9, 15, "Expected format {org}/{repo}[/path]@ref. Actual 'checkout@v4'")]


def test_runs_on_group_and_container_image() -> None:
    found = messages(
        """\
        on: push
        jobs:
          a:
            runs-on:
              group: team/runners
            container:
              options: --cpus 1
            steps: [{run: echo}]
        """
    )
    assert found == [
        (
            5,
            14,
            "Invalid runs-on group name 'team/runners'. Please use 'organization/' or 'enterprise/' prefix "
            "to target a single runner group.",
        ),
        (7, 7, "Container image cannot be empty"),
    ]


def test_dispatch_input_rules() -> None:
    found = messages(
        """\
        on:
          workflow_dispatch:
            inputs:
              level:
                type: choice
              debug:
                type: boolean
                default: maybe
              name:
                options: [a]
        jobs:
          a:
            runs-on: x
            steps: [{run: echo}]
        """
    )
    assert found == [
        (5, 9, "Missing 'options' for choice input"),
        (8, 18, "The default value 'maybe' of input 'debug' must be a boolean"),
        (10, 9, "Input type is not 'choice', but 'options' is defined"),
    ]


def test_unknown_event_and_activity_type() -> None:
    found = messages(
        """\
        on:
          pusj:
          release:
            types: [publish]
        jobs:
          a:
            runs-on: x
            steps: [{run: echo}]
        """
    )
    assert found == [(2, 3, "Unexpected value 'pusj'"), (4, 13, "Unexpected value 'publish'")]


def test_odd_structures_become_problems_not_tracebacks() -> None:
    for text in (
        "",
        "- a\n- b\n",
        "just text",
        "on: push\njobs: [a]\n",
        "{on: {push: {branches: {a: b}}}, jobs: 1}",
    ):
        wf, found = validate_workflow(text, PATH)
        assert wf is None and found, text
    assert problems("")[0].message == "The workflow file is empty: it needs at least 'on' and 'jobs'"


# ------------------------------------------------------------------ called workflows

CALLED = """\
on:
  workflow_call:
    inputs:
      level:
        type: number
        required: true
      flag:
        type: boolean
    secrets:
      token:
        required: true
permissions:
  contents: write
jobs:
  inner:
    runs-on: x
    steps: [{run: echo}]
"""


def test_called_workflow_inputs_secrets_and_permissions() -> None:
    found = messages(
        """\
        on: push
        permissions:
          contents: read
        jobs:
          call:
            uses: org/repo/.github/workflows/called.yml@v1
            with:
              flag: yes
              extra: 1
            secrets:
              other: x
        """,
        resolve_workflow={"org/repo/.github/workflows/called.yml@v1": CALLED}.get,
    )
    assert found == [
        (5, 3, "Error calling workflow 'org/repo/.github/workflows/called.yml@v1'. The workflow "
         "'org/repo/.github/workflows/called.yml@v1' is requesting 'contents: write', but is only allowed "
         "'contents: read'."),
        (6, 11, "Input level is required, but not provided while calling."),
        (6, 11, "Secret token is required, but not provided while calling."),
        (8, 13, "Unexpected value 'yes'"),
        (9, 14, "Invalid input, extra is not defined in the referenced workflow."),
        (11, 14, "Invalid secret, other is not defined in the referenced workflow."),
    ]  # fmt: skip


def test_problems_inside_a_called_workflow_name_the_callee() -> None:
    found = problems(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/c.yml\n",
        resolve_workflow={
            "./.github/workflows/c.yml": "on: workflow_call\njobs:\n  a:\n    runs-on: x\n    bad: 1\n    steps: [{run: e}]\n"
        }.get,
    )
    assert [str(p) for p in found] == ["./.github/workflows/c.yml:5:5: Unexpected value 'bad'"]


def test_callee_must_be_callable() -> None:
    found = messages(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/c.yml\n",
        resolve_workflow={
            "./.github/workflows/c.yml": "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: e}]\n"
        }.get,
    )
    assert found == [(4, 11, "workflow_call key is not defined in the referenced workflow.")]


def test_anchors_can_be_refused_as_github_once_did() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: &r x\n    steps: [{run: echo}]\n"
    assert messages(text) == []
    assert messages(text, allow_anchors=False) == [
        (4, 14, "Anchors are not currently supported. Remove the anchor 'r'")
    ]


def test_reusable_workflow_reference_format() -> None:
    found = messages(
        """\
        on: push
        jobs:
          ok-remote:
            uses: org/repo/.github/workflows/build.yml@v1
          ok-local:
            uses: ./.github/workflows/build.yaml
          bad:
            uses: org/repo@v1
        """
    )
    assert found == [
        (
            8,
            11,
            "Invalid reusable workflow reference 'org/repo@v1': expected "
            "'{owner}/{repo}/{path}/{file}.yml@{ref}' or './{path}/{file}.yml'",
        )
    ]


def test_job_concurrency_keeps_its_queue_and_position_and_refuses_queue_max_with_cancel_in_progress() -> None:
    wf = load(
        """\
        on: push
        jobs:
          deploy:
            runs-on: x
            concurrency:
              group: production-${{ matrix.region }}
              queue: max
            steps: [{run: echo}]
          short:
            runs-on: x
            concurrency: production
            steps: [{run: echo}]
        """
    )
    deploy, short = wf.jobs["deploy"].concurrency, wf.jobs["short"].concurrency
    assert deploy is not None and (deploy.queue, deploy.pos.line, deploy.pos.col) == ("max", 6, 14)
    assert short is not None and (short.group, short.queue, short.pos.line) == ("production", "single", 11)
    assert messages(
        """\
        on: push
        jobs:
          deploy:
            runs-on: x
            concurrency: {group: production, queue: max, cancel-in-progress: true}
            steps: [{run: echo}]
        """
    ) == [(5, 70, "'cancel-in-progress: true' cannot be combined with 'queue: max'")]
