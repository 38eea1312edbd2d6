"""StacksService against a real PostgreSQL: CRUD, paging, YAML round trip, compose import, roles."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from podwarden.engine import Engine
from podwarden.engine.errors import ConflictError, PermissionDenied, ValidationError
from podwarden.engine.models.workloads import Deployment
from podwarden.engine.models.workloads import Stack as StackRow
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.stacks import StacksService

COMPOSE = """
name: shop
services:
  web:
    image: ghcr.io/example/shop-web:2.1
    command: ["serve", "--db", "postgres://shop:${DB_PASSWORD:-secret}@db:5432/shop"]
    ports: ["8080:8000"]
    environment:
      REDIS_URL: redis://cache:6379/0
      LOG_LEVEL: ${LOG_LEVEL:-info}
    depends_on: [db, cache]
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:-secret}
    volumes:
      - dbdata:/var/lib/postgresql/data
  cache:
    image: redis:7
    expose: ["6379"]
volumes:
  dbdata: {}
"""


def web_stack(name: str = "web", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "image": "nginx",
        "image_tag": "1.27",
        "tags": ["edge"],
        "ports": [{"name": "http", "container_port": 80}],
        "env_schema": [{"name": "GREETING", "default_value": "hi"}],
        **extra,
    }


async def stack_count(engine: Engine) -> int:
    async with engine.context.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(StackRow))).scalar_one())


async def test_create_get_update_with_versions(engine: Engine, operator: Actor) -> None:
    stacks = StacksService(engine.context)
    info = await stacks.create_stack(operator, web_stack())
    assert (info.name, info.kind, info.image, info.tags, info.version) == (
        "web",
        "deployment",
        "nginx:1.27",
        ["edge"],
        1,
    )
    changed = await stacks.update_stack(operator, info.id, web_stack(image_tag="1.28"), expected_version=1)
    assert changed.image == "nginx:1.28" and changed.version == 2
    with pytest.raises(ConflictError, match="changed by someone else"):
        await stacks.update_stack(operator, info.id, web_stack(image_tag="1.29"), expected_version=1)
    assert (await stacks.get_stack(operator, info.id)).stack.image_tag == "1.28"
    await stacks.create_stack(operator, web_stack("other"))
    with pytest.raises(ConflictError, match="other"):
        await stacks.update_stack(operator, info.id, web_stack("other"))


async def test_invalid_stack_is_a_validation_error_and_nothing_is_saved(
    engine: Engine, operator: Actor
) -> None:
    stacks = StacksService(engine.context)
    bad = web_stack(ports=[{"name": "http", "container_port": 80}, {"name": "http", "container_port": 81}])
    with pytest.raises(ValidationError) as caught:
        await stacks.create_stack(operator, bad)
    assert caught.value.errors
    with pytest.raises(ValidationError):
        await stacks.import_yaml(operator, "name: x\nimage: [unclosed")
    assert await stack_count(engine) == 0


async def test_yaml_round_trip_through_the_service(engine: Engine, operator: Actor) -> None:
    stacks = StacksService(engine.context)
    data = web_stack(
        config_slots=[{"name": "conf", "key": "nginx.conf", "mount_path": "/etc/nginx/nginx.conf",
                       "default_content": "events {}\nhttp {}\n"}],
    )  # fmt: skip
    first = await stacks.create_stack(operator, data)
    text = await stacks.export_yaml(operator, first.id)
    assert "nginx.conf" in text
    await stacks.delete_stack(operator, first.id)
    second = await stacks.import_yaml(operator, text)
    assert second.id != first.id
    assert second.stack == first.stack
    assert await stacks.export_yaml(operator, second.id) == text
    with pytest.raises(ConflictError, match="already exists"):
        await stacks.import_yaml(operator, text)


async def test_list_filters_sorts_and_pages_in_sql(engine: Engine, operator: Actor) -> None:
    stacks = StacksService(engine.context)
    for index in range(7):
        await stacks.create_stack(
            operator, web_stack(f"app-{index}", tags=["even" if index % 2 == 0 else "odd"])
        )
    await stacks.create_stack(operator, web_stack("worker", kind="job", ports=[], tags=[]))
    page = await stacks.list_stacks(operator, limit=3, offset=0)
    assert page.total == 8 and [s.name for s in page.items] == ["app-0", "app-1", "app-2"]
    page = await stacks.list_stacks(operator, sort="name", descending=True, limit=2)
    assert [s.name for s in page.items] == ["worker", "app-6"]
    assert [s.name for s in (await stacks.list_stacks(operator, kind="job")).items] == ["worker"]
    even = await stacks.list_stacks(operator, tag="even")
    assert even.total == 4 and all("even" in s.tags for s in even.items)
    assert (await stacks.list_stacks(operator, name_contains="P-1")).total == 1
    assert (await stacks.list_stacks(operator, name_contains="%")).total == 0
    with pytest.raises(ValidationError):
        await stacks.list_stacks(operator, sort="image; drop table stacks")  # type: ignore[arg-type]


async def test_delete_is_refused_while_deployments_use_the_stack(engine: Engine, operator: Actor) -> None:
    stacks = StacksService(engine.context)
    info = await stacks.create_stack(operator, web_stack())
    async with engine.context.db.unit_of_work() as uow:
        uow.session.add(Deployment(id=uuid.uuid4(), name="web-prod", stack_id=info.id, namespace="prod"))
    with pytest.raises(ConflictError, match="prod/web-prod"):
        await stacks.delete_stack(operator, info.id)
    assert await stack_count(engine) == 1


async def test_compose_import_creates_one_stack_per_service(engine: Engine, operator: Actor) -> None:
    stacks = StacksService(engine.context)
    result = await stacks.import_compose(operator, COMPOSE, "shop")
    names = sorted(s.name for s in result.stacks)
    assert len(names) == 3 and await stack_count(engine) == 3
    by_service = {s.name: s for s in result.stacks}
    web = next(s for name, s in by_service.items() if "web" in name)
    db = next(s for name, s in by_service.items() if "db" in name)
    assert any("db" in alias for alias in result.aliases[db.name])  # compose name keeps resolving
    assert any(p.port == 8000 for p in result.ports[web.name])
    assert "ghcr.io/example/shop-web" in web.image
    assert {e.name for e in web.stack.env_schema} >= {"LOG_LEVEL"}
    listed = await stacks.list_stacks(operator)
    assert sorted(s.name for s in listed.items) == names
    # importing again clashes on every name, and creates nothing
    with pytest.raises(ConflictError, match=names[0]):
        await stacks.import_compose(operator, COMPOSE, "shop")
    assert await stack_count(engine) == 3
    with pytest.raises(ValidationError):
        await stacks.import_compose(operator, "services: [oops", "broken")
    assert await stack_count(engine) == 3


async def test_roles(engine: Engine, operator: Actor, viewer: Actor) -> None:
    stacks = StacksService(engine.context)
    info = await stacks.create_stack(operator, web_stack())
    assert (await stacks.get_stack(viewer, info.id)).name == "web"
    assert (await stacks.list_stacks(viewer)).total == 1
    with pytest.raises(PermissionDenied):
        await stacks.create_stack(viewer, web_stack("x"))
    with pytest.raises(PermissionDenied):
        await stacks.import_compose(viewer, COMPOSE, "shop")
    with pytest.raises(PermissionDenied):
        await stacks.delete_stack(viewer, info.id)
    assert await stack_count(engine) == 1
