"""Pure renderers: deployment inputs → Kubernetes manifests, and preflight warnings.

Nothing here does I/O; see :mod:`.manifests` for the rendering rules and
:mod:`.preflight` for the warnings.
"""

from podwarden.engine.render.manifests import KUBERNETES_VERSION, redact, render_deployment, to_yaml
from podwarden.engine.render.preflight import ClusterFacts, NodeCapacity, PreflightWarning, preflight

__all__ = [
    "KUBERNETES_VERSION",
    "ClusterFacts",
    "NodeCapacity",
    "PreflightWarning",
    "preflight",
    "redact",
    "render_deployment",
    "to_yaml",
]
