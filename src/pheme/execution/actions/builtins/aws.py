"""``aws-actions/configure-aws-credentials`` with static keys.

Exports ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``
(when given), ``AWS_REGION`` and ``AWS_DEFAULT_REGION`` for later steps, and
registers every credential value as a mask first, so none of them can
appear in a log. Assuming a role (``role-to-assume``) needs AWS STS over the
network and fails with a clear message unless static keys are also given.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pheme.errors import ActionError
from pheme.execution._steps import PhaseOutcome, StepRuntime
from pheme.execution.actions._runtime import add_mask, export_env, log_warning, set_output
from pheme.execution.actions.builtins._builtin import Builtin, as_bool

__all__ = ["ConfigureAwsCredentials"]

_REGION = re.compile(r"^[a-z0-9-]+$")


class ConfigureAwsCredentials(Builtin):
    NAME = "aws-actions/configure-aws-credentials"
    INPUTS: ClassVar[dict[str, Any]] = {
        "aws-region": "",
        "role-to-assume": "",
        "aws-access-key-id": "",
        "aws-secret-access-key": "",
        "aws-session-token": "",
        "web-identity-token-file": "",
        "role-chaining": "false",
        "audience": "sts.amazonaws.com",
        "http-proxy": "",
        "mask-aws-account-id": "false",
        "role-duration-seconds": "",
        "role-external-id": "",
        "role-session-name": "",
        "role-skip-session-tagging": "false",
        "inline-session-policy": "",
        "managed-session-policies": "",
        "output-credentials": "false",
        "output-env-credentials": "true",
        "unset-current-credentials": "false",
        "disable-retry": "false",
        "retry-max-attempts": "",
        "special-characters-workaround": "false",
        "use-existing-credentials": "false",
    }

    async def run(self, rt: StepRuntime) -> PhaseOutcome:
        key_id = self.get("aws-access-key-id").strip()
        secret = self.get("aws-secret-access-key").strip()
        token = self.get("aws-session-token").strip()
        region = self.get("aws-region").strip()
        # Mask before anything else can print them.
        for value in (key_id, secret, token):
            add_mask(rt, value)
        if not region:
            raise ActionError("Input required and not supplied: aws-region")
        if not _REGION.match(region):
            raise ActionError(f"Region is not valid: {region}")
        if self.get("role-to-assume").strip() and not (key_id and secret):
            raise ActionError(
                "role-to-assume needs AWS STS over the network, which Pheme does not use offline; "
                "provide aws-access-key-id and aws-secret-access-key instead"
            )
        if self.get("role-to-assume").strip():
            log_warning(rt, "role-to-assume is ignored offline: using the static credentials as given")
        if bool(key_id) != bool(secret):
            raise ActionError("'aws-access-key-id' and 'aws-secret-access-key' must be provided together")
        values = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        if key_id:
            if as_bool(self.get("output-env-credentials"), True):
                values.update({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
                if token:
                    values["AWS_SESSION_TOKEN"] = token
            if as_bool(self.get("output-credentials")):
                set_output(rt, "aws-access-key-id", key_id)
                set_output(rt, "aws-secret-access-key", secret)
                if token:
                    set_output(rt, "aws-session-token", token)
        elif not as_bool(self.get("use-existing-credentials")):
            raise ActionError(
                "Credentials could not be loaded, please check your action inputs: "
                "provide aws-access-key-id and aws-secret-access-key"
            )
        export_env(rt, values)
        rt.log([f"Configured AWS credentials for region {region} (static keys, masked in logs)"])
        return "success"
