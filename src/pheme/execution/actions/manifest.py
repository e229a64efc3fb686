"""``action.yml``: the metadata of a JavaScript, composite or Docker action.

Parsed into immutable objects that keep positions, so every problem is
reported as ``file:line:col: message`` (one line, through ActionError).
Composite steps become ordinary :class:`~pheme.core.workflow.model.Step`
objects, so the runner's ``run:`` machinery and our resolver handle them
exactly like workflow steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pheme.core.workflow.model import Pos, Step
from pheme.errors import ActionError, Problem

__all__ = [
    "ActionInput",
    "ActionManifest",
    "ActionOutput",
    "ActionRuns",
    "find_manifest",
    "load_manifest",
    "parse_manifest",
]

NODE_RUNTIMES = ("node12", "node16", "node20", "node24")
MANIFEST_NAMES = ("action.yml", "action.yaml")


@dataclass(frozen=True, slots=True)
class ActionInput:
    name: str
    description: str | None = None
    required: bool = False
    default: Any = None  # None: no default
    deprecation_message: str | None = None


@dataclass(frozen=True, slots=True)
class ActionOutput:
    name: str
    description: str | None = None
    value: Any = None  # composite actions: an expression


@dataclass(frozen=True, slots=True)
class ActionRuns:
    using: str
    main: str | None = None
    pre: str | None = None
    post: str | None = None
    pre_if: str | None = None
    post_if: str | None = None
    steps: tuple[Step, ...] = ()
    image: str | None = None
    pos: Pos = field(default_factory=Pos)

    @property
    def kind(self) -> str:
        """``node``, ``composite`` or ``docker``."""
        if self.using in NODE_RUNTIMES:
            return "node"
        return self.using


@dataclass(frozen=True, slots=True)
class ActionManifest:
    file: str  # path of action.yml as shown to users
    directory: Path
    name: str
    description: str | None
    inputs: Mapping[str, ActionInput] = field(default_factory=dict)
    outputs: Mapping[str, ActionOutput] = field(default_factory=dict)
    runs: ActionRuns = field(default_factory=lambda: ActionRuns("composite"))


def _problem(file: str, node: yaml.Node | None, message: str) -> ActionError:
    line = node.start_mark.line + 1 if node is not None else 1
    col = node.start_mark.column + 1 if node is not None else 1
    return ActionError(str(Problem(file, line, col, message)))


def _pos(node: yaml.Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


_CONSTRUCTOR = yaml.SafeLoader("")


def _value(node: yaml.Node) -> Any:
    """A plain Python value of a node (scalars resolved YAML-1.1-safe, like PyYAML)."""
    if isinstance(node, yaml.ScalarNode):
        # Keep GitHub's view on booleans: only true/false are booleans.
        if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
            return node.value
        return _CONSTRUCTOR.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return [_value(n) for n in node.value]
    if isinstance(node, yaml.MappingNode):
        return {_key(k): _value(v) for k, v in node.value}
    return None


def _key(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else str(_value(node))


def _mapping(file: str, node: yaml.Node | None, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    if node is None:
        return []
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(node, yaml.MappingNode):
        raise _problem(file, node, f"'{what}' must be a mapping")
    return [(_key(k), k, v) for k, v in node.value]


def _str(file: str, node: yaml.Node | None, what: str) -> str | None:
    if node is None:
        return None
    if not isinstance(node, yaml.ScalarNode):
        raise _problem(file, node, f"'{what}' must be a string")
    value = _value(node)
    return None if value is None else str(value) if not isinstance(value, bool) else str(value).lower()


def parse_manifest(text: str, file: str, directory: Path) -> ActionManifest:
    """Parse action.yml text; raises ActionError ``file:line:col: message``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ActionError(str(Problem(file, line, col, f"invalid YAML: {exc.problem}"))) from None
    except yaml.YAMLError as exc:
        raise ActionError(f"{file}: invalid YAML: {exc}") from None
    if root is None:
        raise ActionError(f"{file}:1:1: the action file is empty")
    top = dict((k, (kn, v)) for k, kn, v in _mapping(file, root, "action"))
    name = _str(file, top.get("name", (None, None))[1], "name") or directory.name
    description = _str(file, top.get("description", (None, None))[1], "description")

    inputs: dict[str, ActionInput] = {}
    for key, _kn, vnode in _mapping(file, top.get("inputs", (None, None))[1], "inputs"):
        fields = {k: v for k, _, v in _mapping(file, vnode, f"inputs.{key}")}
        required = fields.get("required")
        req_value = _value(required) if required is not None else False
        inputs[key] = ActionInput(
            name=key,
            description=_str(file, fields.get("description"), "description"),
            required=req_value is True or str(req_value).lower() == "true",
            default=_value(fields["default"]) if "default" in fields else None,
            deprecation_message=_str(file, fields.get("deprecationMessage"), "deprecationMessage"),
        )

    outputs: dict[str, ActionOutput] = {}
    for key, _kn, vnode in _mapping(file, top.get("outputs", (None, None))[1], "outputs"):
        fields = {k: v for k, _, v in _mapping(file, vnode, f"outputs.{key}")}
        outputs[key] = ActionOutput(
            name=key,
            description=_str(file, fields.get("description"), "description"),
            value=_value(fields["value"]) if "value" in fields else None,
        )

    if "runs" not in top:
        raise _problem(file, root, "required property 'runs' is missing")
    runs_key, runs_node = top["runs"]
    runs_fields = {k: (kn, v) for k, kn, v in _mapping(file, runs_node, "runs")}
    using_node = runs_fields.get("using", (None, None))[1]
    using = _str(file, using_node, "runs.using")
    if not using:
        raise _problem(file, runs_node, "required property 'runs.using' is missing")
    using_l = using.lower()

    def field_str(key: str) -> str | None:
        return _str(file, runs_fields.get(key, (None, None))[1], f"runs.{key}")

    if using_l in NODE_RUNTIMES:
        main = field_str("main")
        if not main:
            raise _problem(file, runs_node, f"'runs.main' is required for a '{using}' action")
        runs = ActionRuns(
            using_l,
            main=main,
            pre=field_str("pre"),
            post=field_str("post"),
            pre_if=field_str("pre-if"),
            post_if=field_str("post-if"),
            pos=_pos(runs_key),
        )
    elif using_l == "composite":
        steps_node = runs_fields.get("steps", (None, None))[1]
        if steps_node is None:
            raise _problem(file, runs_node, "'runs.steps' is required for a composite action")
        runs = ActionRuns("composite", steps=_steps(file, steps_node), pos=_pos(runs_key))
    elif using_l == "docker":
        runs = ActionRuns("docker", image=field_str("image"), pos=_pos(runs_key))
    else:
        raise _problem(
            file,
            using_node,
            f"'using: {using}' is not supported, use 'composite', 'docker', 'node12', 'node16', 'node20' or 'node24'",
        )
    return ActionManifest(file, directory, name, description, inputs, outputs, runs)


_STEP_KEYS = {
    "id",
    "name",
    "if",
    "uses",
    "with",
    "run",
    "shell",
    "working-directory",
    "env",
    "continue-on-error",
    "timeout-minutes",
}


def _steps(file: str, node: yaml.Node) -> tuple[Step, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _problem(file, node, "'runs.steps' must be a sequence")
    steps: list[Step] = []
    for index, item in enumerate(node.value):
        fields = {k: (kn, v) for k, kn, v in _mapping(file, item, f"runs.steps[{index}]")}
        for key, (kn, _v) in fields.items():
            if key not in _STEP_KEYS:
                raise _problem(file, kn, f"Unexpected value '{key}'")

        def get(key: str, fields: dict[str, tuple[yaml.Node, yaml.Node]] = fields) -> Any:
            pair = fields.get(key)
            return _value(pair[1]) if pair else None

        run, uses = get("run"), get("uses")
        if run is None and uses is None:
            raise _problem(file, item, "a composite step needs 'run' or 'uses'")
        if run is not None and uses is not None:
            raise _problem(file, item, "a composite step cannot have both 'run' and 'uses'")
        if run is not None and get("shell") is None:
            raise _problem(file, item, "Required property is missing: shell")
        with_ = get("with") or {}
        env = get("env") or {}
        if not isinstance(with_, dict):
            raise _problem(file, fields["with"][1], "'with' must be a mapping")
        if not isinstance(env, dict | str):
            raise _problem(file, fields["env"][1], "'env' must be a mapping")
        cont = get("continue-on-error")
        steps.append(
            Step(
                index=index,
                id=None if get("id") is None else str(get("id")),
                name=None if get("name") is None else str(get("name")),
                if_=get("if"),
                uses=None if uses is None else str(uses),
                with_={str(k): v for k, v in with_.items()},
                run=None if run is None else str(run),
                shell=None if get("shell") is None else str(get("shell")),
                working_directory=None if get("working-directory") is None else str(get("working-directory")),
                env={str(k): v for k, v in env.items()} if isinstance(env, dict) else env,
                continue_on_error=cont if isinstance(cont, bool | str) else False,
                timeout_minutes=get("timeout-minutes"),
                pos=_pos(item),
            )
        )
    return tuple(steps)


def find_manifest(directory: Path) -> Path | None:
    """``action.yml`` or ``action.yaml`` in ``directory`` (in that order)."""
    for name in MANIFEST_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_manifest(directory: Path, *, display: str | None = None) -> ActionManifest:
    """Read the action in ``directory``; ``display`` is how to name it in errors."""
    path = find_manifest(directory)
    if path is None:
        label = display or str(directory)
        raise ActionError(
            f"Can't find 'action.yml', 'action.yaml' or 'Dockerfile' for action '{label}' "
            f"(looked in {directory})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ActionError(f"cannot read {path}: {exc.strerror}") from None
    return parse_manifest(text, str(path), directory)
