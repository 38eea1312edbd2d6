"""SQLAlchemy 2.0 typed models: every table PodWarden keeps (see docs/data-model.md)."""

from podwarden.engine.models.access import (
    ApiToken,
    AuditEntry,
    FleetSetting,
    Role,
    Secret,
    SecretKeyCheck,
    SystemConfig,
    SystemMessage,
    User,
)
from podwarden.engine.models.base import Base
from podwarden.engine.models.fleet import Cluster, Host, HostSource, HostState
from podwarden.engine.models.jobs import Job, JobState
from podwarden.engine.models.services import (
    BackupPolicy,
    BackupSnapshot,
    DdnsConfig,
    Endpoint,
    IngressRule,
    StorageConnection,
)
from podwarden.engine.models.workloads import Deployment, DeploymentRevision, Stack

__all__ = [
    "ApiToken",
    "AuditEntry",
    "BackupPolicy",
    "BackupSnapshot",
    "Base",
    "Cluster",
    "DdnsConfig",
    "Deployment",
    "DeploymentRevision",
    "Endpoint",
    "FleetSetting",
    "Host",
    "HostSource",
    "HostState",
    "IngressRule",
    "Job",
    "JobState",
    "Role",
    "Secret",
    "SecretKeyCheck",
    "Stack",
    "StorageConnection",
    "SystemConfig",
    "SystemMessage",
    "User",
]
