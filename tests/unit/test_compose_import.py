"""docker-compose → stacks: realistic files in data/compose/ and the edge cases around them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podwarden.engine.errors import ValidationError
from podwarden.engine.parsers.compose import ComposeImport, ServicePort, import_compose
from podwarden.engine.schemas.stacks import (
    EmptyDirVolume,
    HostPathVolume,
    PvcVolume,
    Stack,
    stack_from_yaml,
    stack_to_yaml,
)

DATA = Path(__file__).parent / "data" / "compose"
NS = "{{namespace}}.svc.cluster.local"


def load(name: str, project: str) -> ComposeImport:
    return import_compose((DATA / name).read_text(encoding="utf-8"), project_name=project)


def env_of(stack: Stack) -> dict[str, str]:
    return {item.name: item.value for item in stack.env}


def schema_of(stack: Stack) -> dict[str, dict[str, Any]]:
    return {spec.name: spec.model_dump(exclude={"name"}) for spec in stack.env_schema}


def spec(
    required: bool = False,
    default: str | None = None,
    description: str = "",
    secret: bool = False,
) -> dict[str, Any]:
    return {
        "required": required,
        "default_value": default,
        "description": description,
        "generate": False,
        "secret": secret,
    }


def compose(text: str, project: str = "demo") -> ComposeImport:
    return import_compose(text, project_name=project)


# --------------------------------------------------------------------------- #
# web + postgres + redis
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def shop() -> ComposeImport:
    return load("web_postgres_redis.yml", "shop")


def test_shop_one_stack_per_service(shop: ComposeImport) -> None:
    assert [stack.name for stack in shop.stacks] == ["web", "db", "cache"]
    assert {stack.kind for stack in shop.stacks} == {"deployment"}
    assert shop.stack("web").tags == ["compose", "shop"]


def test_shop_images(shop: ComposeImport) -> None:
    web, db, cache = shop.stacks
    assert (web.registry_url, web.image, web.image_tag) == ("ghcr.io", "acme/shop-web", "2.4.1")
    assert (db.registry_url, db.image, db.image_tag) == (None, "postgres", "16-alpine")
    assert (cache.image, cache.image_tag) == ("redis", "7")
    assert web.image_reference("x") == "ghcr.io/acme/shop-web:2.4.1"


def test_shop_commands_become_args(shop: ComposeImport) -> None:
    web, _, cache = shop.stacks
    assert web.command == []
    assert web.args == ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
    assert cache.args == ["redis-server", "--appendonly", "yes"]


def test_shop_service_references_are_rewritten(shop: ComposeImport) -> None:
    assert env_of(shop.stack("web")) == {
        "DATABASE_URL": f"postgres://shop:$(POSTGRES_PASSWORD)@db.{NS}:5432/shop",
        "REDIS_URL": f"redis://cache.{NS}:6379/0",
        "DB_HOST": f"db.{NS}",
        "DB_OPTIONS": f"host=db.{NS} dbname=shop sslmode=disable",
        "DB_NAME": "mydb",
        "CACHE_KEY_PREFIX": "db_cache",
        "DEBUG": "false",
        "WORKERS": "3",
    }


def test_shop_env_schema(shop: ComposeImport) -> None:
    assert schema_of(shop.stack("web")) == {
        "POSTGRES_PASSWORD": spec(
            required=True, description="Compose variable ${POSTGRES_PASSWORD}", secret=True
        ),
        "SECRET_KEY": spec(required=True, description="set a Django secret key", secret=True),
        "ALLOWED_HOSTS": spec(default="localhost", description="Compose variable ${ALLOWED_HOSTS}"),
    }
    db = shop.stack("db")
    assert schema_of(db) == {
        "POSTGRES_PASSWORD": spec(
            default="changeme", description="Compose variable ${POSTGRES_PASSWORD}", secret=True
        )
    }
    assert env_of(db) == {"POSTGRES_DB": "shop", "POSTGRES_USER": "shop"}  # no duplicate env entry


def test_shop_named_volumes_become_pvcs(shop: ComposeImport) -> None:
    volumes = {stack.name: stack.volumes for stack in shop.stacks}
    assert volumes["db"] == [
        PvcVolume(name="pgdata", mount_path="/var/lib/postgresql/data", size="1Gi", claim_name="shop-pgdata")
    ]
    assert volumes["cache"] == [
        PvcVolume(name="redisdata", mount_path="/data", size="1Gi", claim_name="shop-redisdata")
    ]
    assert volumes["web"] == [
        PvcVolume(name="media", mount_path="/app/media", size="1Gi", claim_name="shop-media")
    ]
    assert all(
        isinstance(v, PvcVolume) and v.retain_on_undeploy for stack in shop.stacks for v in stack.volumes
    )


def test_shop_services_and_aliases(shop: ComposeImport) -> None:
    assert shop.services == {
        "web": [ServicePort(name="tcp-8000", port=8000, published=8080)],
        "db": [ServicePort(name="tcp-5432", port=5432, inferred=True)],
        "cache": [ServicePort(name="tcp-6379", port=6379, inferred=True)],
    }
    assert shop.aliases == {"web": "web", "db": "db", "cache": "cache"}
    assert [port.name for port in shop.stack("db").ports] == ["tcp-5432"]
    assert shop.depends_on == {"web": ["db", "cache"]}


def test_shop_warnings(shop: ComposeImport) -> None:
    assert "web: ${WEB_TAG} in image used its default '2.4.1'" in shop.warnings
    assert "db: healthcheck ignored (stacks have no probes)" in shop.warnings
    assert any(w.startswith("web: depends_on (db, cache) is not enforced") for w in shop.warnings)
    assert any(w.startswith("db: port 5432 added because web connects to it") for w in shop.warnings)


def test_imported_stacks_round_trip_through_yaml(shop: ComposeImport) -> None:
    for stack in shop.stacks:
        assert stack_from_yaml(stack_to_yaml(stack)) == stack


# --------------------------------------------------------------------------- #
# wordpress + mariadb
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def wordpress() -> ComposeImport:
    return load("wordpress_mariadb.yml", "blog")


def test_wordpress_ports_are_read_as_compose_reads_them(wordpress: ComposeImport) -> None:
    wp = wordpress.stack("wordpress")
    assert [(port.name, port.container_port) for port in wp.ports] == [("tcp-80", 80)]  # not 4880
    assert wordpress.services["wordpress"] == [ServicePort(name="tcp-80", port=80, published=80)]


def test_wordpress_db_host_points_at_mariadb(wordpress: ComposeImport) -> None:
    wp = wordpress.stack("wordpress")
    assert env_of(wp) == {
        "WORDPRESS_DB_HOST": f"db.{NS}",
        "WORDPRESS_DB_USER": "wordpress",
        "WORDPRESS_DB_NAME": "wordpress",
    }
    assert schema_of(wp) == {
        "WORDPRESS_DB_PASSWORD": spec(
            default="wordpress", description="Compose variable ${WORDPRESS_DB_PASSWORD}", secret=True
        )
    }
    assert (wp.image, wp.image_tag) == ("wordpress", "latest")


def test_wordpress_mariadb_stack(wordpress: ComposeImport) -> None:
    db = wordpress.stack("db")
    assert (db.image, db.image_tag) == ("mariadb", "10.11")
    assert db.args == ["--default-authentication-plugin=mysql_native_password"]
    assert env_of(db) == {
        "MYSQL_DATABASE": "wordpress",
        "MYSQL_USER": "wordpress",
        "MYSQL_PASSWORD": "$(WORDPRESS_DB_PASSWORD)",
    }
    assert list(schema_of(db)) == ["MYSQL_ROOT_PASSWORD", "WORDPRESS_DB_PASSWORD"]
    assert schema_of(db)["MYSQL_ROOT_PASSWORD"]["default_value"] == "somewordpress"
    assert db.volumes == [
        PvcVolume(name="db-data", mount_path="/var/lib/mysql", size="1Gi", claim_name="blog-db-data")
    ]


def test_wordpress_mariadb_gets_its_usual_port(wordpress: ComposeImport) -> None:
    assert wordpress.services["db"] == [ServicePort(name="tcp-3306", port=3306, inferred=True)]
    assert "db: no ports declared; assumed mariadb's usual port 3306" in wordpress.warnings


# --------------------------------------------------------------------------- #
# api + worker + db
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def tasks() -> ComposeImport:
    return load("api_worker_db.yml", "tasks")


def test_tasks_api(tasks: ComposeImport) -> None:
    api = tasks.stack("api")
    assert (api.registry_url, api.image, api.image_tag) == ("registry.example.com:5000", "tasks/api", "1.8.0")
    assert api.command == ["/docker-entrypoint.sh"]
    assert api.args == ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
    assert env_of(api) == {
        "DATABASE_URL": f"postgres://app:$(DB_PASSWORD)@db.{NS}:5432/app",
        "CELERY_BROKER_URL": f"sqla+postgresql://app:$(DB_PASSWORD)@db.{NS}/app",
    }
    assert schema_of(api) == {
        "DB_PASSWORD": spec(required=True, description="Compose variable ${DB_PASSWORD}", secret=True),
        "LOG_LEVEL": spec(default="info", description="Compose variable ${LOG_LEVEL}"),
    }
    assert tasks.services["api"] == [
        ServicePort(name="tcp-8000", port=8000, published=8000, host_ip="127.0.0.1")
    ]


def test_tasks_worker(tasks: ComposeImport) -> None:
    worker = tasks.stack("worker")
    assert worker.command == []
    assert worker.args == ["celery", "-A", "app", "worker", "--loglevel=$(LOG_LEVEL)"]
    assert env_of(worker)["API_BASE"] == f"http://api.{NS}:8000/internal"
    assert env_of(worker)["DATABASE_URL"] == f"postgres://app:$(DB_PASSWORD)@db.{NS}:5432/app"
    assert set(schema_of(worker)) == {"LOG_LEVEL", "DB_PASSWORD"}
    resources = worker.resources
    assert (resources.cpu_request, resources.cpu_limit) == ("0.25", "1.5")
    assert (resources.memory_request, resources.memory_limit) == ("256Mi", "1Gi")
    assert worker.ports == []
    assert "worker" not in tasks.services
    assert tasks.replicas == {"worker": 2}
    assert "worker: compose asks for 2 replicas; choose the count when deploying" in tasks.warnings


def test_tasks_db(tasks: ComposeImport) -> None:
    db = tasks.stack("db")
    assert env_of(db) == {"POSTGRES_USER": "app", "POSTGRES_DB": "app", "POSTGRES_PASSWORD": "$(DB_PASSWORD)"}
    assert schema_of(db) == {"DB_PASSWORD": spec(required=True, description="database password", secret=True)}
    assert db.volumes == [
        PvcVolume(name="dbdata", mount_path="/var/lib/postgresql/data", size="1Gi", claim_name="tasks-dbdata")
    ]
    assert tasks.services["db"] == [ServicePort(name="tcp-5432", port=5432, inferred=True)]
    assert tasks.depends_on == {"api": ["db"]}


# --------------------------------------------------------------------------- #
# long syntax, bind mounts
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def edge() -> ComposeImport:
    return load("long_syntax.yml", "edge")


def test_long_syntax_ports(edge: ComposeImport) -> None:
    proxy = edge.stack("proxy")
    assert [(p.name, p.container_port, p.protocol) for p in proxy.ports] == [
        ("tcp-80", 80, "TCP"),
        ("tcp-443", 443, "TCP"),
        ("quic", 443, "UDP"),
    ]
    assert edge.services["proxy"] == [
        ServicePort(name="tcp-80", port=80, published=8080),
        ServicePort(name="tcp-443", port=443, published=8443),
        ServicePort(name="quic", port=443, protocol="UDP", published=8443),
    ]
    assert edge.services["site"] == [ServicePort(name="tcp-80", port=80)]


def test_long_syntax_volumes(edge: ComposeImport) -> None:
    assert edge.stack("proxy").volumes == [
        HostPathVolume(
            name="caddyfile",
            mount_path="/etc/caddy/Caddyfile",
            path="/srv/podwarden/edge/Caddyfile",
            host_path_type="",
            read_only=True,
        ),
        PvcVolume(name="caddy-data", mount_path="/data", size="1Gi", claim_name="caddy-data-prod"),
        EmptyDirVolume(name="cache", mount_path="/tmp/cache", medium="Memory", size_limit="64Mi"),
        EmptyDirVolume(name="caddy", mount_path="/var/log/caddy"),
    ]
    assert edge.stack("site").volumes == [
        HostPathVolume(
            name="html",
            mount_path="/usr/share/nginx/html",
            path="/srv/podwarden/edge/site",
            host_path_type="",
            read_only=True,
        ),
        HostPathVolume(
            name="assets",
            mount_path="/usr/share/nginx/html/assets",
            path="/srv/shared/assets",
            host_path_type="",
        ),
    ]


def test_long_syntax_aliases_and_warnings(edge: ComposeImport) -> None:
    assert edge.aliases == {"proxy": "proxy", "site": "site", "edge": "proxy"}
    warnings = edge.warnings
    assert "proxy: not imported: labels" in warnings
    assert "proxy: env_file ignored; add those variables to the stack's env" in warnings
    assert any(
        w.startswith("proxy: bind mount ./Caddyfile became hostPath /srv/podwarden/edge/Caddyfile")
        for w in warnings
    )
    assert any(w.startswith("site: bind mount /srv/shared/assets became a hostPath volume") for w in warnings)
    assert (
        "proxy: anonymous volume /var/log/caddy became an emptyDir; its data is lost with the pod" in warnings
    )
    assert "volume 'caddy_data' is external; the claim must already exist in the namespace" in warnings


# --------------------------------------------------------------------------- #
# Service-name rewriting, precisely
# --------------------------------------------------------------------------- #

REFERENCES = """
services:
  db:
    image: postgres:16
  app:
    image: example/app:1
    environment:
      A_URL: postgres://db:db@otherhost:5432/db
      B_URL: mysql://user:pw@db/db?host=db
      C_DSN: "user:pw@tcp(db:3306)/app"
      D_HOSTS: "db,db:5433, cache-db"
      E_NAME: db
      F_TEXT: "use mydb or dbname=app or db_user or db.example.com or db-primary"
      G_HOST: db.example.com
      H_LIST: "db:5432"
      I_ENDPOINT: "http://db"
      J_MIXED: "DB"
    command: ["wait-for", "db:5432", "--", "run", "--db", "db", "--url=http://db:80/x"]
"""


def test_rewrites_only_host_positions() -> None:
    app = compose(REFERENCES).stack("app")
    assert env_of(app) == {
        "A_URL": "postgres://db:db@otherhost:5432/db",  # user, password and path are not hosts
        "B_URL": f"mysql://user:pw@db.{NS}/db?host=db.{NS}",
        "C_DSN": f"user:pw@tcp(db.{NS}:3306)/app",
        "D_HOSTS": f"db.{NS},db.{NS}:5433, cache-db",
        "E_NAME": "db",  # not a host-like variable name
        "F_TEXT": "use mydb or dbname=app or db_user or db.example.com or db-primary",
        "G_HOST": "db.example.com",
        "H_LIST": f"db.{NS}:5432",
        "I_ENDPOINT": f"http://db.{NS}",
        "J_MIXED": "DB",
    }
    assert app.args == ["wait-for", f"db.{NS}:5432", "--", "run", "--db", "db", f"--url=http://db.{NS}:80/x"]


def test_referenced_ports_are_added_to_the_target() -> None:
    result = compose(REFERENCES)
    assert [port.port for port in result.services["db"]] == [5432, 80, 3306, 5433]  # command first, then env
    assert all(port.inferred for port in result.services["db"])


def test_service_names_are_normalised_and_references_follow() -> None:
    result = compose(
        """
services:
  My_DB:
    image: postgres:16
    container_name: legacy-db
  web:
    image: nginx:1
    environment:
      DB_HOST: My_DB
      OLD_URL: postgres://legacy-db:5432/x
"""
    )
    assert [stack.name for stack in result.stacks] == ["my-db", "web"]
    assert env_of(result.stack("web")) == {
        "DB_HOST": f"my-db.{NS}",
        "OLD_URL": f"postgres://my-db.{NS}:5432/x",
    }
    assert result.aliases == {"my-db": "my-db", "web": "web", "legacy-db": "my-db"}
    assert "My_DB: stack named 'my-db' (service names must be DNS labels)" in result.warnings


def test_names_that_clash_after_normalising_get_a_suffix() -> None:
    result = compose("services:\n  my_app:\n    image: a\n  my-app:\n    image: b\n")
    assert [stack.name for stack in result.stacks] == ["my-app", "my-app-2"]


# --------------------------------------------------------------------------- #
# Variables
# --------------------------------------------------------------------------- #


def test_variable_forms() -> None:
    result = compose(
        """
services:
  app:
    image: example/app:1
    environment:
      - PLAIN=$$HOME and $$(date)
      - SUBSHELL=$(not-a-variable)
      - BARE=$TOKEN
      - FROM_SHELL
      - ALT=${MAYBE:+set}
      - NESTED=${OUTER:-${INNER:-deep}}
      - DASH=${NODASH-plain}
      - LONE=costs 5$
"""
    )
    app = result.stack("app")
    assert env_of(app) == {
        "PLAIN": "$HOME and $$(date)",
        "SUBSHELL": "$$(not-a-variable)",
        "BARE": "$(TOKEN)",
        "ALT": "",
        "NESTED": "$(OUTER)",
        "DASH": "$(NODASH)",
        "LONE": "costs 5$",
    }
    schema = schema_of(app)
    assert schema["TOKEN"] == spec(required=True, description="Compose variable ${TOKEN}", secret=True)
    assert schema["FROM_SHELL"] == spec(
        required=True, description="taken from the shell environment in compose"
    )
    assert schema["OUTER"]["default_value"] == "deep"
    assert schema["NODASH"]["default_value"] == "plain"
    assert "MAYBE" not in schema
    assert any("${MAYBE:+…}" in warning for warning in result.warnings)


def test_env_entry_wins_over_a_variable_of_the_same_name() -> None:
    result = compose(
        """
services:
  app:
    image: example/app:1
    environment:
      DB_PASSWORD: secret
      DATABASE_URL: postgres://u:${DB_PASSWORD}@db/x
"""
    )
    app = result.stack("app")
    assert env_of(app) == {"DB_PASSWORD": "secret", "DATABASE_URL": "postgres://u:$(DB_PASSWORD)@db/x"}
    assert app.env_schema == []
    assert any("same name as the env entry DB_PASSWORD" in warning for warning in result.warnings)


def test_required_variable_outside_env_is_an_error() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  app:\n    image: example/app:${TAG:?set TAG}\n")
    assert caught.value.errors.keys() == {"services.app.image"}
    assert "TAG" in caught.value.message


def test_unset_variable_outside_env_is_empty_like_compose() -> None:
    result = compose("services:\n  app:\n    image: example/app${SUFFIX}:1\n")
    assert result.stack("app").image == "example/app"
    assert "app: ${SUFFIX} in image is unset; used ''" in result.warnings


# --------------------------------------------------------------------------- #
# Other compose features
# --------------------------------------------------------------------------- #


def test_port_short_forms() -> None:
    result = compose(
        """
services:
  app:
    image: example/app:1
    ports:
      - 3000
      - "9000-9001:8000-8001"
      - "127.0.0.1:5353:53/udp"
      - "[::1]:8443:443"
      - "7000"
    expose:
      - "9100"
      - 3000
"""
    )
    assert result.services["app"] == [
        ServicePort(name="tcp-3000", port=3000),
        ServicePort(name="tcp-8000", port=8000, published=9000),
        ServicePort(name="tcp-8001", port=8001, published=9001),
        ServicePort(name="udp-53", port=53, protocol="UDP", published=5353, host_ip="127.0.0.1"),
        ServicePort(name="tcp-443", port=443, published=8443, host_ip="::1"),
        ServicePort(name="tcp-7000", port=7000),
        ServicePort(name="tcp-9100", port=9100),
    ]


@pytest.mark.parametrize(
    "port", ['"80:http"', '"8080:80/icmp"', "0", '"1-500:1-500"', '"a:b:c:d:e"', "[]", '"8080-8082:80"']
)
def test_bad_port_syntax_names_the_service(port: str) -> None:
    with pytest.raises(ValidationError) as caught:
        compose(f"services:\n  web:\n    image: nginx:1\n    ports:\n      - {port}\n")
    assert list(caught.value.errors) == ["services.web.ports.0"]
    assert caught.value.message.startswith("Compose service 'web' is invalid: ports.0: ")


def test_network_mode_host_and_gpus() -> None:
    result = compose(
        """
services:
  ollama:
    image: ollama/ollama:0.3.0
    network_mode: host
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 2
              capabilities: [gpu]
"""
    )
    ollama = result.stack("ollama")
    assert ollama.host_network is True
    assert ollama.dns_policy == "ClusterFirstWithHostNet"
    assert ollama.resources.gpu_count == 2
    assert ollama.warnings() == []


def test_restart_no_and_unknown_keys_warn() -> None:
    result = compose(
        "services:\n  once:\n    image: busybox:1\n    restart: no\n    privileged: true\n    user: '1000'\n"
    )
    assert any(w.startswith("once: restart 'no' is not kept") for w in result.warnings)
    assert "once: not imported: privileged, user" in result.warnings


def test_digest_and_tag() -> None:
    digest = "sha256:" + "0" * 64
    result = compose(f"services:\n  app:\n    image: docker.io/library/redis:7@{digest}\n")
    app = result.stack("app")
    assert (app.registry_url, app.image, app.image_tag) == (None, "library/redis", digest)
    assert any("has a tag and a digest" in warning for warning in result.warnings)


def test_untagged_image_uses_latest_with_a_warning() -> None:
    result = compose("services:\n  app:\n    image: redis\n")
    assert result.stack("app").image_tag == "latest"
    assert "app: image 'redis' has no tag; using 'latest' (pin a version)" in result.warnings


def test_shared_named_volume() -> None:
    result = compose(
        """
services:
  a:
    image: x/a:1
    volumes: [shared:/data]
  b:
    image: x/b:1
    volumes: ["shared:/mnt/shared:ro"]
volumes:
  shared:
  unused:
"""
    )
    a, b = result.stacks
    assert a.volumes[0] == PvcVolume(name="shared", mount_path="/data", size="1Gi", claim_name="demo-shared")
    assert b.volumes[0] == PvcVolume(
        name="shared", mount_path="/mnt/shared", size="1Gi", claim_name="demo-shared", read_only=True
    )
    assert any(w.startswith("volume 'shared' is shared by a, b") for w in result.warnings)
    assert "volume 'unused' is not used by any imported service; skipped" in result.warnings


# --------------------------------------------------------------------------- #
# Errors and skipped services
# --------------------------------------------------------------------------- #


def test_build_only_service_is_skipped_with_a_warning() -> None:
    result = compose("services:\n  app:\n    build: .\n  db:\n    image: postgres:16\n")
    assert [stack.name for stack in result.stacks] == ["db"]
    assert any(w.startswith("app: skipped — it only has 'build:'") for w in result.warnings)


def test_only_build_only_services_is_an_error() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  app:\n    build: .\n")
    assert caught.value.errors.keys() == {"services"}


def test_service_without_image_or_build() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  app:\n    command: sleep 1\n")
    assert caught.value.errors == {"services.app.image": "has no image (and no build)"}
    assert "'app'" in caught.value.message


def test_malformed_yaml_has_a_line_number() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  web:\n    image: nginx\n   ports: [80\n")
    assert "line 4" in caught.value.message
    assert caught.value.message.startswith("Compose YAML is not valid: ")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("version: '3'\n", "services"),
        ("services: [web]\n", "services"),
        ("services: {}\n", "services"),
        ("- web\n", ""),
        ("just text\n", ""),
        ("", ""),
    ],
)
def test_not_a_compose_file(text: str, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        compose(text)
    assert list(caught.value.errors) == [key]


def test_undeclared_named_volume() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  db:\n    image: postgres:16\n    volumes: [pgdata:/var/lib/postgresql/data]\n")
    assert list(caught.value.errors) == ["services.db.volumes.0"]
    assert "pgdata" in caught.value.message


def test_unbalanced_quotes_in_command() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  app:\n    image: x/y:1\n    command: echo 'oops\n")
    assert list(caught.value.errors) == ["services.app.command"]


def test_invalid_stack_names_the_service() -> None:
    with pytest.raises(ValidationError) as caught:
        compose("services:\n  app:\n    image: Example/App:1\n")
    assert list(caught.value.errors) == ["services.app.image"]
    assert caught.value.message.startswith("Compose service 'app' does not make a valid stack: ")


def test_bad_project_name() -> None:
    with pytest.raises(ValidationError) as caught:
        import_compose("services:\n  a:\n    image: x\n", project_name="___")
    assert list(caught.value.errors) == ["project_name"]


# --------------------------------------------------------------------------- #
# Robustness: compose-shaped garbage gives our error or a result, nothing else
# --------------------------------------------------------------------------- #

SERVICE_KEYS = st.sampled_from(
    [
        "image",
        "build",
        "command",
        "entrypoint",
        "environment",
        "ports",
        "expose",
        "volumes",
        "tmpfs",
        "depends_on",
        "restart",
        "deploy",
        "healthcheck",
        "container_name",
        "networks",
        "links",
        "network_mode",
        "mem_limit",
        "cpus",
        "gpus",
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=70000)
    | st.sampled_from(
        ["nginx:1", "db", "8080:80", "data:/data", "./x:/x:ro", "${A:-b}", "$(x)", "host", "1g"]
    )
    | st.text(max_size=12)
)
VALUES = st.recursive(
    LEAVES,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8) | SERVICE_KEYS, c, max_size=3),
    max_leaves=10,
)
SERVICES = st.dictionaries(
    st.sampled_from(["web", "db", "My_App", "cache"]),
    st.fixed_dictionaries({"image": st.sampled_from(["nginx:1", "postgres:16"])}, optional={}).flatmap(
        lambda base: st.dictionaries(SERVICE_KEYS, VALUES, max_size=4).map(lambda extra: {**base, **extra})
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SERVICES, st.dictionaries(st.sampled_from(["data", "db_data"]), st.none() | VALUES, max_size=2))
def test_import_compose_never_raises_anything_else(services: dict[str, Any], volumes: dict[str, Any]) -> None:
    text = yaml.safe_dump({"services": services, "volumes": volumes}, sort_keys=False)
    try:
        result = import_compose(text, project_name="fuzz")
    except ValidationError as exc:
        assert exc.message
        return
    for stack in result.stacks:
        assert stack_from_yaml(stack_to_yaml(stack)) == stack


def test_alias_bomb_is_refused() -> None:
    lines = ["x-a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for index in range(1, 9):
        previous = "a" if index == 1 else f"a{index - 1}"
        lines.append(f"x-a{index}: &a{index} [" + ", ".join([f"*{previous}"] * 10) + "]")
    lines += ["services:", "  app:", "    image: nginx:1", "    command: *a8"]
    with pytest.raises(ValidationError, match="too large"):
        compose("\n".join(lines) + "\n")


def test_links_and_hostnames_become_aliases() -> None:
    result = compose(
        """
services:
  db:
    image: postgres:16
    hostname: database
  web:
    image: nginx:1
    links: ["db:pg"]
    environment:
      PG_HOST: pg
      OTHER_HOST: database
"""
    )
    assert result.aliases == {"db": "db", "web": "web", "database": "db", "pg": "db"}
    assert env_of(result.stack("web")) == {"PG_HOST": f"db.{NS}", "OTHER_HOST": f"db.{NS}"}
