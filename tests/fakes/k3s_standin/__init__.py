"""A stand-in K3s air-gapped artifact folder for tests: ``install.sh`` and ``k3s``.

See the comment at the top of ``install.sh``: it records its arguments and
environment and creates (under ``PODWARDEN_K3S_PREFIX``) what a real install
leaves behind, including an uninstall script. It never installs Kubernetes.
"""

from pathlib import Path

ARTIFACTS_DIR = Path(__file__).resolve().parent
