"""Nodes → the immutable :mod:`~pheme.core.workflow.model`, plus GitHub's
post-schema checks (ids, ``needs`` graph, cron, runner groups, containers,
``uses:`` references, ``if:`` conditions, dispatch inputs).

The schema reader has already reported type errors; this pass is tolerant of
them (it only looks at nodes of the expected kind), so one run reports every
problem it can find, never raising on odd structure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

from pheme.core.workflow._checks import (
    IdScope,
    check_action_ref,
    check_runs_on_group,
    check_workflow_ref,
    needs_problems,
)
from pheme.core.workflow._reader import LITERAL_EXPRESSION
from pheme.core.workflow._schema import JOB_IF_CONTEXT, STEP_IF_CONTEXT
from pheme.core.workflow._yaml import BOOL, FLOAT, INT, MAP, NULL, SEQ, STR, Node, to_string
from pheme.core.workflow.model import (
    Concurrency,
    Defaults,
    Environment,
    EventTrigger,
    InputType,
    Job,
    Pos,
    Step,
    Strategy,
    Workflow,
    WorkflowCallOutput,
    WorkflowCallSecret,
    WorkflowInput,
)

__all__ = ["Converter"]

ErrorSink = Callable[[Node, str], None]
ExprCheck = Callable[[str, tuple[str, ...]], "str | None"]

_FILTERS = (
    "types",
    "branches",
    "branches-ignore",
    "tags",
    "tags-ignore",
    "paths",
    "paths-ignore",
    "workflows",
)
_INPUT_TYPES = ("string", "boolean", "number", "choice", "environment")


def _pos(node: Node) -> Pos:
    return Pos(node.line, node.col)


def _pairs(node: Node | None) -> list[tuple[str, Node, Node]]:
    """``(key, key node, value node)`` of a mapping, skipping expression keys."""
    if node is None or node.kind != MAP:
        return []
    out = []
    for k, v in node.value:
        if k.kind == STR and not k.expr:
            out.append((k.value, k, v))
    return out


def _get(node: Node | None, key: str) -> Node | None:
    for name, _k, v in _pairs(node):
        if name == key:
            return v
    return None


def _str(node: Node | None) -> str | None:
    if node is None or node.kind in (MAP, SEQ, NULL):
        return None
    return to_string(node)


def _raw(node: Node | None) -> Any:
    return None if node is None else node.to_python()


def _strings(node: Node | None) -> tuple[str, ...] | None:
    """A filter given as one string or a list of strings."""
    if node is None:
        return None
    if node.kind == SEQ:
        return tuple(to_string(n) for n in node.value if n.kind not in (MAP, SEQ))
    if node.kind == NULL:
        return ()
    if node.kind == MAP:
        return None
    return (to_string(node),)


def _bool_or_expr(node: Node | None, default: bool) -> bool | str:
    if node is None:
        return default
    if node.kind == BOOL:
        return bool(node.value)
    if node.kind == STR:
        return str(node.value)
    return default


def _number_or_expr(node: Node | None) -> float | str | None:
    if node is None:
        return None
    if node.kind in (INT, FLOAT):
        return cast(float, node.value)
    if node.kind == STR:
        return str(node.value)
    return None


def _env(node: Node | None) -> dict[str, Any] | str:
    if node is None:
        return {}
    if node.kind == STR:
        return str(node.value)
    if node.kind != MAP:
        return {}
    return {to_string(k): v.to_python() for k, v in node.value}


def _contains_expression(node: Node) -> bool:
    if node.expr:
        return True
    if node.kind == MAP:
        return any(_contains_expression(k) or _contains_expression(v) for k, v in node.value)
    if node.kind == SEQ:
        return any(_contains_expression(v) for v in node.value)
    return False


class Converter:
    def __init__(
        self, error: ErrorSink, check_expression: ExprCheck, path: str, *, require_steps: bool = True
    ) -> None:
        self.require_steps = require_steps
        self.error = error
        self.check_expression = check_expression
        self.path = path

    # ------------------------------------------------------------ workflow
    def workflow(self, root: Node) -> Workflow:
        on: dict[str, EventTrigger] = {}
        jobs: dict[str, Job] = {}
        name = run_name = None
        env: dict[str, Any] = {}
        defaults = None
        concurrency = None
        permissions = None
        for key, knode, value in _pairs(root):
            if key == "on":
                on = self.events(value)
            elif key == "jobs":
                jobs = self.jobs(value)
            elif key == "name":
                name = _str(value)
            elif key == "run-name":
                run_name = _str(value)
            elif key == "env":
                e = _env(value)
                env = e if isinstance(e, dict) else {}
            elif key == "defaults":
                defaults = self.defaults(value)
            elif key == "concurrency":
                concurrency = self.concurrency(value)
            elif key == "permissions":
                permissions = _raw(value)
            del knode
        return Workflow(
            path=self.path,
            on=on,
            jobs=jobs,
            name=name,
            run_name=run_name,
            env=env,
            defaults=defaults,
            concurrency=concurrency,
            permissions=permissions,
        )

    def defaults(self, node: Node | None) -> Defaults | None:
        run = _get(node, "run")
        if run is None or run.kind != MAP:
            return None
        return Defaults(
            shell=_str(_get(run, "shell")), working_directory=_str(_get(run, "working-directory"))
        )

    def concurrency(self, node: Node | None) -> Concurrency | None:
        if node is None:
            return None
        if node.kind == STR:
            return Concurrency(group=str(node.value), pos=_pos(node))
        if node.kind != MAP:
            return None
        group_node = _get(node, "group")
        group = _str(group_node)
        if group is None or group_node is None:
            return None
        cancel_node = _get(node, "cancel-in-progress")
        cancel_in_progress = _bool_or_expr(cancel_node, False)
        queue: Literal["single", "max"] = "max" if _str(_get(node, "queue")) == "max" else "single"
        if queue == "max" and cancel_in_progress is True and cancel_node is not None:
            self.error(cancel_node, "'cancel-in-progress: true' cannot be combined with 'queue: max'")
        return Concurrency(
            group=group, cancel_in_progress=cancel_in_progress, queue=queue, pos=_pos(group_node)
        )

    # ------------------------------------------------------------ on:
    def events(self, node: Node) -> dict[str, EventTrigger]:
        result: dict[str, EventTrigger] = {}
        if node.kind == STR:
            result[node.value] = EventTrigger(event=node.value, pos=_pos(node))
        elif node.kind == SEQ:
            for item in node.value:
                if item.kind == STR:
                    result[item.value] = EventTrigger(event=item.value, pos=_pos(item))
        elif node.kind == MAP:
            for event, knode, value in _pairs(node):
                result[event] = self.event(event, knode, value)
        return result

    def event(self, event: str, key: Node, value: Node) -> EventTrigger:
        pos = _pos(key)
        if event == "schedule":
            from pheme.core.workflow.cron import CronError, parse_cron  # here: only schedules need it

            crons = []
            if value.kind == SEQ:
                for item in value.value:
                    cron = _get(item, "cron")
                    if cron is None or cron.kind != STR:
                        continue
                    try:
                        parse_cron(cron.value)
                    except CronError as exc:
                        self.error(cron, exc.message)
                    crons.append(cron.value)
            return EventTrigger(event=event, crons=tuple(crons), pos=pos)
        if value.kind != MAP:
            return EventTrigger(event=event, pos=pos)
        if event == "workflow_dispatch":
            return EventTrigger(
                event=event, inputs=self.inputs(_get(value, "inputs"), dispatch=True), pos=pos
            )
        if event == "workflow_call":
            return self.workflow_call(value, pos)
        filters: dict[str, tuple[str, ...] | None] = {f: _strings(_get(value, f)) for f in _FILTERS}
        return EventTrigger(
            event=event,
            types=filters["types"],
            branches=filters["branches"],
            branches_ignore=filters["branches-ignore"],
            tags=filters["tags"],
            tags_ignore=filters["tags-ignore"],
            paths=filters["paths"],
            paths_ignore=filters["paths-ignore"],
            workflows=filters["workflows"],
            pos=pos,
        )

    def inputs(self, node: Node | None, *, dispatch: bool) -> dict[str, WorkflowInput]:
        result: dict[str, WorkflowInput] = {}
        for name, knode, spec in _pairs(node):
            type_node = _get(spec, "type")
            typ = _str(type_node) or "string"
            if typ not in _INPUT_TYPES:
                typ = "string"
            options_node = _get(spec, "options")
            options = (
                _strings(options_node) if options_node is not None and options_node.kind == SEQ else None
            )
            default_node = _get(spec, "default")
            required_node = _get(spec, "required")
            if dispatch and spec.kind == MAP:
                if typ == "choice" and not options:
                    self.error(spec, "Missing 'options' for choice input")
                elif typ != "choice" and options_node is not None:
                    self.error(spec, "Input type is not 'choice', but 'options' is defined")
                if default_node is not None and not default_node.expr:
                    self._check_default(name, typ, default_node, options)
            result[name] = WorkflowInput(
                name=name,
                type=cast(InputType, typ),
                description=_str(_get(spec, "description")),
                required=bool(required_node.value)
                if required_node is not None and required_node.kind == BOOL
                else False,
                default=_raw(default_node),
                options=options or (),
                pos=_pos(knode),
            )
        return result

    def _check_default(self, name: str, typ: str, node: Node, options: tuple[str, ...] | None) -> None:
        if typ == "boolean" and node.kind != BOOL:
            self.error(node, f"The default value '{to_string(node)}' of input '{name}' must be a boolean")
        elif typ == "number" and node.kind not in (INT, FLOAT):
            self.error(node, f"The default value '{to_string(node)}' of input '{name}' must be a number")
        elif typ == "choice" and options and node.kind != NULL and to_string(node) not in options:
            self.error(
                node, f"The default value '{to_string(node)}' of input '{name}' is not one of its options"
            )

    def workflow_call(self, node: Node, pos: Pos) -> EventTrigger:
        outputs = {}
        for name, _k, spec in _pairs(_get(node, "outputs")):
            outputs[name] = WorkflowCallOutput(
                name=name, value=_str(_get(spec, "value")) or "", description=_str(_get(spec, "description"))
            )
        secrets = {}
        for name, _k, spec in _pairs(_get(node, "secrets")):
            req = _get(spec, "required")
            secrets[name] = WorkflowCallSecret(
                name=name,
                required=bool(req.value) if req is not None and req.kind == BOOL else False,
                description=_str(_get(spec, "description")),
            )
        return EventTrigger(
            event="workflow_call",
            inputs=self.inputs(_get(node, "inputs"), dispatch=False),
            outputs=outputs,
            secrets=secrets,
            pos=pos,
        )

    # ------------------------------------------------------------ jobs
    def jobs(self, node: Node) -> dict[str, Job]:
        result: dict[str, Job] = {}
        if node.kind != MAP:
            return result
        ids = IdScope()
        graph: list[tuple[str, list[tuple[str, object]]]] = []
        for job_id, knode, value in _pairs(node):
            message = ids.add(job_id)
            if message:
                self.error(knode, message)
            if value.kind != MAP:
                continue
            job, needs = self.job(job_id, knode, value)
            result[job_id] = job
            graph.append((job_id, needs))
        has_start, problems = needs_problems(graph)
        if (graph and not has_start) or (not graph and node.kind == MAP and not node.value):
            self.error(node, "The workflow must contain at least one job with no dependencies.")
        for where, message in problems:
            self.error(cast(Node, where), message)
        return result

    def job(self, job_id: str, key: Node, node: Node) -> tuple[Job, list[tuple[str, object]]]:
        f: dict[str, Node] = {name: v for name, _k, v in _pairs(node)}
        needs: list[tuple[str, object]] = []
        needs_node = f.get("needs")
        if needs_node is not None:
            if needs_node.kind == STR:
                needs.append((needs_node.value, needs_node))
            elif needs_node.kind == SEQ:
                needs.extend((n.value, n) for n in needs_node.value if n.kind == STR)
        if_node = f.get("if")
        if if_node is not None:
            self.check_condition(if_node, JOB_IF_CONTEXT)
        runs_on = f.get("runs-on")
        if runs_on is not None and runs_on.kind == MAP:
            group = _get(runs_on, "group")
            if group is not None and group.kind == STR and not group.expr:
                message = check_runs_on_group(group.value)
                if message:
                    self.error(group, message)
        container = f.get("container")
        if container is not None:
            self.check_container(container)
        services = f.get("services")
        for _name, _k, svc in _pairs(services):
            self.check_container(svc)
        steps = self.steps(f.get("steps"))

        steps_node = f.get("steps")
        no_steps = steps_node is None or (steps_node.kind == SEQ and not steps_node.value)
        if self.require_steps and no_steps and "uses" not in f:
            self.error(
                key,
                f"No steps defined in `steps` and no workflow called in `uses` for the following jobs: {job_id}",
            )
        env_node = f.get("environment")
        environment: Environment | str | None = None
        if env_node is not None:
            if env_node.kind == MAP:
                environment = Environment(
                    name=_str(_get(env_node, "name")) or "", url=_str(_get(env_node, "url"))
                )
            else:
                environment = _str(env_node)
        outputs = {name: _str(v) or "" for name, _k, v in _pairs(f.get("outputs"))}
        secrets_node = f.get("secrets")
        secrets: Any = None
        if secrets_node is not None:
            if secrets_node.kind == STR and secrets_node.value == "inherit":
                secrets = "inherit"
            elif secrets_node.kind == MAP:
                secrets = secrets_node.to_python()
        with_node = f.get("with")
        uses_node = f.get("uses")
        if uses_node is not None and uses_node.kind == STR and uses_node.style != LITERAL_EXPRESSION:
            message = check_workflow_ref(uses_node.value)
            if message:
                self.error(uses_node, message)
        job = Job(
            id=job_id,
            name=_str(f.get("name")) or None,
            needs=tuple(n for n, _ in needs),
            if_=_str(if_node) if if_node is not None else None,
            runs_on=_raw(runs_on),
            environment=environment,
            outputs=outputs,
            env=_env(f.get("env")),
            defaults=self.defaults(f.get("defaults")),
            timeout_minutes=_number_or_expr(f.get("timeout-minutes")),
            continue_on_error=_bool_or_expr(f.get("continue-on-error"), False),
            strategy=self.strategy(f.get("strategy")),
            container=_raw(container),
            services=services.to_python() if services is not None and services.kind == MAP else {},
            steps=steps,
            concurrency=self.concurrency(f.get("concurrency")),
            permissions=_raw(f.get("permissions")),
            uses=_str(f.get("uses")),
            with_=with_node.to_python() if with_node is not None and with_node.kind == MAP else {},
            secrets=secrets,
            pos=_pos(key),
        )
        return job, needs

    def strategy(self, node: Node | None) -> Strategy | None:
        if node is None or node.kind not in (MAP, STR):
            return None
        if node.kind == STR:
            return Strategy(matrix=str(node.value), pos=_pos(node))
        matrix_node = _get(node, "matrix")
        matrix: Any = None
        if matrix_node is not None:
            if matrix_node.kind == STR:
                matrix = matrix_node.value
            elif matrix_node.kind == MAP:
                matrix = matrix_node.to_python()
                self.check_matrix(matrix_node)
        max_parallel = _number_or_expr(_get(node, "max-parallel"))
        if isinstance(max_parallel, float) and max_parallel == int(max_parallel):
            max_parallel = int(max_parallel)
        return Strategy(
            matrix=matrix,
            fail_fast=_bool_or_expr(_get(node, "fail-fast"), True),
            max_parallel=cast("int | str | None", max_parallel),
            pos=_pos(node),
        )

    def check_matrix(self, node: Node) -> None:
        for name, _k, value in _pairs(node):
            if name in ("include", "exclude"):
                continue
            if value.kind == SEQ and not value.value:
                self.error(value, f"Matrix vector '{name}' does not contain any values")

    def check_container(self, node: Node) -> None:
        if _contains_expression(node):
            return
        if node.kind == STR:
            return
        if node.kind != MAP:
            return
        image = _get(node, "image")
        if image is None or image.kind != STR or not image.value:
            self.error(node, "Container image cannot be empty")

    def check_condition(self, node: Node, context: tuple[str, ...]) -> None:
        """``if:`` without ``${{ }}`` is still an expression; check it like GitHub does."""
        if node.kind != STR or node.expr:
            return
        condition = str(node.value).strip()
        if not condition or "${{" in condition:
            return
        message = self.check_expression(condition, context)
        if message is not None:
            self.error(node, message)

    # ------------------------------------------------------------ steps
    def steps(self, node: Node | None) -> tuple[Step, ...]:
        if node is None or node.kind != SEQ:
            return ()
        ids = IdScope()
        result = []
        for index, item in enumerate(node.value):
            if item.kind != MAP:
                continue
            f: dict[str, Node] = {name: v for name, _k, v in _pairs(item)}
            id_node = f.get("id")
            if id_node is not None and id_node.kind == STR and not id_node.expr:
                message = ids.add(id_node.value)
                if message:
                    self.error(id_node, message)
            uses = f.get("uses")
            if uses is not None and uses.kind == STR and not uses.expr and uses.value:
                message = check_action_ref(uses.value)
                if message:
                    self.error(uses, message)
            if_node = f.get("if")
            if if_node is not None:
                self.check_condition(if_node, STEP_IF_CONTEXT)
            with_node = f.get("with")
            result.append(
                Step(
                    index=index,
                    id=_str(id_node),
                    name=_str(f.get("name")),
                    if_=_str(if_node) if if_node is not None else None,
                    uses=_str(uses),
                    with_=with_node.to_python() if with_node is not None and with_node.kind == MAP else {},
                    run=_str(f.get("run")),
                    shell=_str(f.get("shell")),
                    working_directory=_str(f.get("working-directory")),
                    env=_env(f.get("env")),
                    continue_on_error=_bool_or_expr(f.get("continue-on-error"), False),
                    timeout_minutes=_number_or_expr(f.get("timeout-minutes")),
                    pos=_pos(item),
                )
            )
        return tuple(result)
