"""The text of a deployment's detail: its inputs, with secret values masked."""

from __future__ import annotations

from html import escape

from podwarden.engine.services.deployments import DeploymentInfo
from podwarden.engine.services.stacks import StackInfo
from podwarden.ui.format import when
from podwarden.ui.models.deployments import STATUS_COLORS, DeploymentRow

MASK = "••••••"


def facts(row: DeploymentRow) -> str:
    info = row.info
    color = STATUS_COLORS.get(info.status, "")
    revision = f" · revision {info.current_revision}" if info.current_revision is not None else ""
    deployed = f" · last deploy {when(info.deployed_at)}" if info.deployed_at else ""
    message = f" · {escape(info.status_message)}" if info.status_message else ""
    return (
        f"<span style='color:{color}'>{escape(info.status)}</span>{revision}{deployed}{message}<br>"
        f"stack {escape(row.stack_name)} · cluster {escape(row.cluster_name)} · "
        f"namespace {escape(info.namespace)} · {info.replicas} replica(s)"
    )


def inputs_text(info: DeploymentInfo, stack: StackInfo | None) -> str:
    """Plain text: env values (secrets masked), config files, placement."""
    lines: list[str] = []
    schema = list(stack.stack.env_schema) if stack is not None else []
    names = [e.name for e in schema] or sorted({*info.env_values, *info.secret_env_names})
    generated = {e.name for e in schema if e.generate}
    lines.append("Environment:")
    for name in names:
        if name in info.secret_env_names:
            lines.append(f"  {name} = {MASK} (secret, stored encrypted)")
        elif name in info.env_values:
            lines.append(f"  {name} = {info.env_values[name]}")
        elif name in generated:
            lines.append(f"  {name} = (generated at deploy)")
        else:
            default = next((e.default_value for e in schema if e.name == name), None)
            lines.append(
                f"  {name} = " + (f"{default} (stack default)" if default is not None else "(not set)")
            )
    if not names:
        lines.append("  (none)")
    lines.append("Config files:")
    slots = list(stack.stack.config_slots) if stack is not None else []
    for slot in slots:
        content = info.config_values.get(slot.name)
        source = "custom" if content is not None else "stack default"
        text = content if content is not None else (slot.default_content or "")
        lines.append(f"  {slot.name} → {slot.mount_path}: {len(text.splitlines())} line(s), {source}")
    if not slots:
        lines.append("  (none)")
    selector = info.placement.get("node_selector") or {}
    host = info.placement.get("hostname")
    where = ", ".join(f"{k}={v}" for k, v in selector.items())
    parts = [f"node selector {where}" if where else "", f"pinned to {host}" if host else ""]
    lines.append("Placement: " + ("; ".join(p for p in parts if p) or "any node"))
    if info.service_aliases:
        lines.append("Service aliases: " + ", ".join(info.service_aliases))
    return "\n".join(lines)
