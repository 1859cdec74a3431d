"""The deployment files agree with each other and with the app.

Docker does not run here, so these tests read docker-compose.yml, the
Dockerfile, .env.example and .dockerignore and check their wiring: start
order, health checks, scaling, the settings every service receives, the
commands the image runs, and that no secret is written into any of them.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError

from cli.main import build_parser
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = {"postgres", "redis", "migrate", "api", "worker"}
APP_SERVICES = ("migrate", "api", "worker")
SETTING_NAMES = {f"TRAINJOBS_{name.upper()}" for name in Settings.model_fields}
APP_USER_UID = "10001"
# A password that is not a placeholder, for resolving the compose file.
TEST_PASSWORD = "Xq7-test-only-pw"

# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, ...;
# `$${...}` is an escaped dollar, not an interpolation.
INTERPOLATION = re.compile(
    r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)
ASSIGNMENT = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


# -- readers -------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), "docker-compose.yml is not a mapping"
    return loaded


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def environment(name: str) -> dict[str, str]:
    """A service's `environment`, in either of compose's two forms."""
    env = service(name).get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def interpolate(text: str, values: dict[str, str]) -> str:
    """Resolve compose's `${...}` forms against `values`, as compose would."""

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = values.get(name)
        unset = value is None or (op is not None and op.startswith(":") and not value)
        if op is not None and op.endswith("?") and unset:
            raise LookupError(f"{name} is required: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return value or ""

    return INTERPOLATION.sub(resolve, text).replace("$$", "$")


def resolved_environment(name: str, values: dict[str, str]) -> dict[str, str]:
    return {key: interpolate(value, values) for key, value in environment(name).items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def env_example_assignments() -> dict[str, tuple[str, bool]]:
    """NAME -> (value, commented out) for each `NAME=value` line."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found[match["name"]] = (match["value"], match["comment"] is not None)
    return found


def settings_from(env: dict[str, str], home: Path) -> Settings:
    """Settings built only from the `TRAINJOBS_*` variables in `env`."""
    fields = {
        key.removeprefix("TRAINJOBS_").lower(): value
        for key, value in env.items()
        if key.startswith("TRAINJOBS_")
    }
    fields["home"] = str(home)
    return Settings(**fields)


def dockerignore_patterns() -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, is an exception) pairs, in file order."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        index = 0
        while index < len(glob):
            if glob.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif glob.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif glob[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif glob[index] == "?":
                regex, index = regex + "[^/]", index + 1
            elif glob[index] == "[":
                end = glob.index("]", index)
                regex, index = regex + glob[index : end + 1], end + 1
            else:
                regex, index = regex + re.escape(glob[index]), index + 1
        patterns.append((re.compile(regex + r"\Z"), negated))
    return patterns


def dockerignored(path: str) -> bool:
    """Whether Docker leaves `path` out of the build context."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        ignored = False
        for pattern, negated in dockerignore_patterns():
            if pattern.match(prefix):
                ignored = not negated
        if ignored:
            return True
    return False


# -- docker-compose.yml: services and start order -----------------------------


def test_compose_defines_the_five_services() -> None:
    assert set(compose()["services"]) == SERVICES


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
        ("api", "/readyz"),
        ("worker", "inspect ping"),
    ],
)
def test_compose_service_has_a_healthcheck(name: str, probe: str) -> None:
    healthcheck = service(name).get("healthcheck")

    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable", False)
    test = healthcheck["test"]
    command = test if isinstance(test, str) else " ".join(test)
    assert isinstance(test, str) or test[0] in {"CMD", "CMD-SHELL"}
    assert probe in command


def test_migrate_waits_for_healthy_postgres_and_runs_once() -> None:
    migrate = service("migrate")

    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # Quoted in YAML: a bare `no` would load as False.
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["migrate"]


@pytest.mark.parametrize("name", ["api", "worker"])
def test_app_service_waits_for_migration_and_healthy_redis(name: str) -> None:
    depends_on = service(name)["depends_on"]

    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
    assert depends_on["redis"] == {"condition": "service_healthy"}


def test_worker_can_be_scaled() -> None:
    worker = service("worker")

    # Each of these is unique per container; two replicas would collide.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "hostname" not in worker


def test_api_publishes_port_8000() -> None:
    ports = [str(port) for port in service("api")["ports"]]

    assert any(port.endswith(":8000") for port in ports), ports


def test_postgres_keeps_its_data_in_a_declared_named_volume() -> None:
    mounts = [str(mount).split(":") for mount in service("postgres")["volumes"]]
    declared = compose().get("volumes") or {}

    data = [
        source for source, target, *_ in mounts if target == "/var/lib/postgresql/data"
    ]
    assert len(data) == 1
    assert "/" not in data[0] and not data[0].startswith(".")
    assert data[0] in declared


def test_every_named_volume_used_is_declared() -> None:
    declared = set(compose().get("volumes") or {})
    for name, definition in compose()["services"].items():
        for mount in definition.get("volumes", []):
            source = str(mount).split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared {source!r}"


def test_compose_commands_are_trainjobs_commands() -> None:
    parser = build_parser()
    commands = {name: service(name)["command"] for name in APP_SERVICES}

    assert commands["migrate"][0] == "migrate"
    assert commands["api"][:1] == ["api"]
    assert commands["worker"][:1] == ["worker"]
    assert parser.parse_args(commands["api"]).host == "0.0.0.0"
    assert parser.parse_args(commands["api"]).port == 8000
    assert parser.parse_args(commands["worker"]).concurrency == 1
    parser.parse_args(commands["migrate"])


# -- docker-compose.yml: configuration and secrets ----------------------------


def test_app_services_share_one_configuration() -> None:
    first, *others = APP_SERVICES
    for name in others:
        assert environment(name) == environment(first)
        assert service(name).get("image") == service(first).get("image")
        assert service(name).get("build") == service(first).get("build")


def test_compose_sets_only_real_settings() -> None:
    for name in APP_SERVICES:
        env = environment(name)
        trainjobs_vars = {key for key in env if key.startswith("TRAINJOBS_")}

        assert trainjobs_vars <= SETTING_NAMES, trainjobs_vars - SETTING_NAMES
        assert {"TRAINJOBS_DATABASE_URL", "TRAINJOBS_BROKER_URL"} <= trainjobs_vars
        assert env["TRAINJOBS_ENVIRONMENT"] == "production"


def test_compose_urls_point_at_the_compose_services() -> None:
    values = {"POSTGRES_PASSWORD": TEST_PASSWORD}
    postgres = resolved_environment("postgres", values)
    env = resolved_environment("api", values)

    database = urlsplit(env["TRAINJOBS_DATABASE_URL"])
    assert database.scheme == "postgresql+psycopg"
    assert database.hostname == "postgres"
    assert database.port == 5432
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"] == TEST_PASSWORD
    assert database.path == f"/{postgres['POSTGRES_DB']}"

    broker = urlsplit(env["TRAINJOBS_BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname == "redis"
    assert broker.port == 6379


def test_compose_configuration_loads_in_production(tmp_path: Path) -> None:
    env = resolved_environment("api", {"POSTGRES_PASSWORD": TEST_PASSWORD})

    settings = settings_from(env, tmp_path)

    assert settings.environment == "production"
    assert not settings.uses_sqlite
    assert settings.broker_url == "redis://redis:6379/0"


def test_compose_refuses_to_start_without_a_password() -> None:
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        resolved_environment("api", {})
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        resolved_environment("postgres", {"POSTGRES_PASSWORD": ""})


def test_compose_has_no_literal_password() -> None:
    text = COMPOSE_FILE.read_text()

    for name in SERVICES:
        for key, value in environment(name).items():
            if re.search("PASSWORD|SECRET|TOKEN", key):
                assert INTERPOLATION.fullmatch(value), f"{name}: {key} is literal"
    for userinfo in re.findall(r"://[^/@\s]*:([^@\s]+)@", text):
        assert INTERPOLATION.fullmatch(userinfo), f"literal password {userinfo!r}"
    assert "changeme" not in text.lower()


def test_compose_escapes_container_side_variables() -> None:
    # Compose expands `$NAME` and `${NAME}` from the host; a variable meant
    # for the container's shell must be written `$$NAME`.
    text = COMPOSE_FILE.read_text().replace("$$", "")

    stray = [match.group() for match in re.finditer(r"\$(?!\{)\S*", text)]
    assert stray == []


# -- .env.example --------------------------------------------------------------


def test_env_example_lists_every_interpolated_variable() -> None:
    assignments = env_example_assignments()
    text = COMPOSE_FILE.read_text()

    interpolated = {match["name"] for match in INTERPOLATION.finditer(text)}
    required = {
        match["name"]
        for match in INTERPOLATION.finditer(text)
        if match["op"] and match["op"].endswith("?")
    }
    assert interpolated, "docker-compose.yml interpolates nothing"
    assert interpolated <= set(assignments), interpolated - set(assignments)
    for name in required:
        assert not assignments[name][1], f"{name} is required but commented out"


def test_env_example_names_only_settings_fields() -> None:
    named = set(re.findall(r"TRAINJOBS_[A-Z0-9_]+", ENV_EXAMPLE.read_text()))

    assert named <= SETTING_NAMES, named - SETTING_NAMES


def test_env_example_documents_every_setting() -> None:
    named = set(re.findall(r"TRAINJOBS_[A-Z0-9_]+", ENV_EXAMPLE.read_text()))

    assert named >= SETTING_NAMES, SETTING_NAMES - named


def test_env_example_shows_the_real_defaults() -> None:
    for name, (value, _) in env_example_assignments().items():
        if not name.startswith("TRAINJOBS_"):
            continue
        assert name in SETTING_NAMES, f"{name} is not a setting"
        field = Settings.model_fields[name.removeprefix("TRAINJOBS_").lower()]
        default = field.get_default(call_default_factory=True)

        assert type(default)(value) == default, f"{name}={value}, default {default}"


def test_env_example_password_is_a_placeholder_production_refuses(
    tmp_path: Path,
) -> None:
    assignments = env_example_assignments()
    password, commented = assignments["POSTGRES_PASSWORD"]
    lines = ENV_EXAMPLE.read_text().splitlines()
    index = lines.index(f"POSTGRES_PASSWORD={password}")
    comment = " ".join(lines[max(index - 10, 0) : index]).lower()
    example = {name: value for name, (value, _) in assignments.items()}

    assert not commented
    assert "change it" in comment
    env = resolved_environment("api", example)
    with pytest.raises(ValidationError, match="placeholder password"):
        settings_from(env, tmp_path)


# -- Dockerfile ----------------------------------------------------------------


def test_dockerfile_is_based_on_python_311_slim_bookworm() -> None:
    assert dockerfile("FROM") == ["python:3.11-slim-bookworm"]


def test_dockerfile_installs_fashion_mnist_and_make_from_debian() -> None:
    apt_runs = [run for run in dockerfile("RUN") if "apt-get install" in run]

    assert apt_runs, "no apt-get install"
    words = set(shlex.split(" ".join(apt_runs)))
    assert {"dataset-fashion-mnist", "make"} <= words


def test_dockerfile_installs_the_app_with_make_install() -> None:
    instructions = dockerfile_instructions()
    runs = [
        (index, args) for index, (kw, args) in enumerate(instructions) if kw == "RUN"
    ]
    installs = [(index, args) for index, args in runs if "make install" in args]
    makefile = (ROOT / "Makefile").read_text()

    assert len(installs) == 1
    index, command = installs[0]
    assert shlex.split(command) == [
        "make",
        "install",
        "VENV=/opt/venv",
        "PIP_EXTRA=--no-cache-dir",
    ]
    assert not [args for _, args in runs if "pip install" in args], "hand-rolled pip"
    assert any(kw == "COPY" for kw, _ in instructions[:index]), "no sources copied"
    assert re.search(r"^install:", makefile, re.MULTILINE)
    assert "$(PIP_EXTRA)" in makefile
    assert any(re.search(r"\bPATH=/opt/venv/bin:", env) for env in dockerfile("ENV"))


def test_dockerfile_runs_as_a_non_root_user_owning_trainjobs_home() -> None:
    users = dockerfile("USER")
    runs = " ".join(dockerfile("RUN"))
    envs = " ".join(dockerfile("ENV"))

    assert users, "the image runs as root"
    user = users[-1].split(":")[0]
    if user.isdigit():
        assert user == APP_USER_UID
    else:
        assert re.search(rf"useradd .*--uid {APP_USER_UID}\b.* {user}\b", runs)
    assert "TRAINJOBS_HOME=/var/lib/trainjobs" in envs
    assert re.search(r"(install -d -o|chown) \S+.* /var/lib/trainjobs\b", runs)


def test_dockerfile_entrypoint_is_the_trainjobs_script() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    entrypoints = dockerfile("ENTRYPOINT")
    commands = dockerfile("CMD")

    assert len(entrypoints) == 1
    assert json.loads(entrypoints[0]) == ["trainjobs"]
    assert re.search(r'^trainjobs = "cli\.main:main"$', pyproject, re.MULTILINE)
    for command in commands:
        build_parser().parse_args(json.loads(command))


def test_dockerfile_bakes_in_no_secrets() -> None:
    for keyword in ("ENV", "ARG"):
        for args in dockerfile(keyword):
            assert not re.search(
                r"PASSWORD|SECRET|TOKEN|DATABASE_URL|BROKER_URL", args
            ), args
    assert dockerignored(".env")


# -- .dockerignore -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".trainjobs/trainjobs.db",
        ".env",
        "core/__pycache__/settings.cpython-311.pyc",
        ".mypy_cache/3.11/core",
        ".pytest_cache/v/cache",
        ".ruff_cache/content",
        "trainjobs.egg-info/PKG-INFO",
    ],
)
def test_dockerignore_keeps_local_state_out(path: str) -> None:
    assert dockerignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "Makefile",
        "README.md",
        "alembic.ini",
        "core/settings.py",
        "core/data/mnist-10k/train-images-idx3-ubyte.gz",
        "api/app.py",
        "worker/app.py",
        "cli/main.py",
        "migrations/env.py",
        "migrations/versions/0001_create_jobs_sweeps_and_metrics.py",
    ],
)
def test_dockerignore_keeps_what_make_install_needs(path: str) -> None:
    assert not dockerignored(path)
