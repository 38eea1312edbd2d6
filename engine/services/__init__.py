"""Use cases. Each public method is an operation (see security/rbac.py) that checks the actor's role."""

from podwarden.engine.services.audit import AuditService
from podwarden.engine.services.clusters import ClustersService
from podwarden.engine.services.config import ConfigService
from podwarden.engine.services.deployments import DeploymentsService
from podwarden.engine.services.discovery import DiscoveryService
from podwarden.engine.services.hosts import HostsService
from podwarden.engine.services.jobs import JobsService
from podwarden.engine.services.probe import ProbeService
from podwarden.engine.services.provisioning import ProvisioningService
from podwarden.engine.services.secrets import SecretsService
from podwarden.engine.services.stacks import StacksService
from podwarden.engine.services.tokens import TokensService
from podwarden.engine.services.users import UsersService

__all__ = [
    "AuditService",
    "ClustersService",
    "ConfigService",
    "DeploymentsService",
    "DiscoveryService",
    "HostsService",
    "JobsService",
    "ProbeService",
    "ProvisioningService",
    "SecretsService",
    "StacksService",
    "TokensService",
    "UsersService",
]
