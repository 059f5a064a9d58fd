"""deploy/Dockerfile: one image for every service, non-root, runtime dependencies only, a
healthcheck on /healthz; the build steps themselves run in test_image_install.py."""

from __future__ import annotations

import json
import shlex

from tests.deploy.manifests import dockerfile_instructions
from tests.deploy.service_code import SERVICES


def _final(instruction: str) -> list[str]:
    final_stage = dockerfile_instructions()[-1][0]
    return [
        arguments
        for stage, name, arguments in dockerfile_instructions()
        if stage == final_stage and name == instruction
    ]


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    user = _final("USER")[-1]

    uid, _, gid = user.partition(":")

    assert int(uid) > 0
    assert int(gid) > 0


def test_the_image_installs_the_project_without_extras() -> None:
    installs = [
        shlex.split(arguments)
        for stage, name, arguments in dockerfile_instructions()
        if name == "RUN" and "pip" in arguments and "install" in arguments
    ]

    assert len(installs) == 1
    assert installs[0][-1] == "."


def test_the_runtime_stage_copies_only_the_built_virtual_environment() -> None:
    copies = _final("COPY")

    assert copies == ["--from=build /opt/hypeledger /opt/hypeledger"]


def test_the_healthcheck_asks_healthz_with_python_alone() -> None:
    healthcheck = _final("HEALTHCHECK")[-1]

    command = json.loads(healthcheck.split(" CMD ", 1)[1])

    assert command[0] == "python"
    assert "/healthz" in command[-1]


def test_the_entrypoint_is_the_hypeledger_command_and_every_default_port_is_exposed() -> None:
    exposed = {int(port) for port in _final("EXPOSE")[-1].split()}

    defaults = {
        code.settings_class().model_fields[code.port_field].default for code in SERVICES.values()
    }

    assert json.loads(_final("ENTRYPOINT")[-1]) == ["hypeledger"]
    assert defaults <= exposed
