"""The HTTP API and MCP endpoint, derived from the operation registry (security/rbac.py)."""

from podwarden.engine.api.app import create_app
from podwarden.engine.api.server import ApiServer

__all__ = ["ApiServer", "create_app"]
