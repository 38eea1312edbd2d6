"""Role-aware widgets: what the signed-in role may not use is disabled, with the reason.

The engine still checks every call; this only keeps people from pressing
buttons that would fail. A widget may also be disabled for other reasons (no
selection); :func:`set_enabled` combines those with the permission.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from podwarden.engine.security.rbac import Actor, Permission

_DENIED = "podwarden_denied"
_TOOLTIP = "podwarden_tooltip"

Target = QWidget | QAction


def denied_reason(actor: Actor | None, permission: Permission) -> str | None:
    """Why ``actor`` may not use ``permission`` (None when it may)."""
    if actor is None:
        return "Sign in first."
    if actor.can(permission):
        return None
    return (
        f"Needs the {permission.role.value} role ({permission.description.lower()}); "
        f"{actor.name} has the {actor.role.value} role."
    )


def guard(target: Target, actor: Actor | None, permission: Permission, *, tooltip: str = "") -> bool:
    """Enable ``target`` only for a role that has ``permission``; the tooltip says why not.

    ``tooltip`` is the normal tooltip, shown when the action is allowed. Returns
    whether it is allowed.
    """
    reason = denied_reason(actor, permission)
    target.setProperty(_DENIED, reason is not None)
    target.setProperty(_TOOLTIP, tooltip)
    target.setToolTip(reason if reason is not None else tooltip)
    target.setEnabled(reason is None)
    return reason is None


def allowed(target: Target) -> bool:
    """Whether the role may use ``target`` (True for widgets never guarded)."""
    return not bool(target.property(_DENIED))


def set_enabled(target: Target, enabled: bool) -> None:
    """Enable ``target`` when ``enabled`` and the role allows it."""
    target.setEnabled(enabled and allowed(target))
