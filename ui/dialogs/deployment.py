"""Create or edit a deployment: stack → cluster, namespace, replicas, env values (from the
stack's env schema), config file contents per slot, placement.

The engine validates the whole input in one unit of work: a refused form saves
nothing, and its errors show at their fields (env and config errors on their tabs).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDialog, QScrollArea, QSpinBox, QTabWidget, QVBoxLayout, QWidget

from podwarden.engine import Actor, Engine
from podwarden.engine.errors import ValidationError
from podwarden.engine.services.clusters import ClusterInfo
from podwarden.engine.services.deployments import DeploymentInfo
from podwarden.engine.services.stacks import StackInfo
from podwarden.ui.dialogs.common import Buttons, text_field
from podwarden.ui.ops import run_op
from podwarden.ui.views.deployments_parts.inputs import ConfigEditor, EnvEditor
from podwarden.ui.widgets.form import Form

GENERAL, ENVIRONMENT, CONFIG = 0, 1, 2
#: Engine error keys → (tab, field prefix stripped) for the stack-driven sections.
_SECTION_PREFIXES = (
    ("env_values.", ENVIRONMENT),
    ("secret_values.", ENVIRONMENT),
    ("config_values.", CONFIG),
)


def parse_selector(text: str) -> dict[str, str]:
    """``"gpu=true, zone=a"`` → ``{"gpu": "true", "zone": "a"}``; raises ValueError on a bad pair."""
    result: dict[str, str] = {}
    for part in (p.strip() for p in text.replace("\n", ",").split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part!r} is not key=value")
        result[key.strip()] = value.strip()
    return result


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


class DeploymentDialog(QDialog):
    saved = Signal(object)  # DeploymentInfo

    def __init__(
        self, engine: Engine, actor: Actor, parent: QWidget, *, deployment: DeploymentInfo | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("deployment-dialog")
        self.engine, self.actor, self.deployment = engine, actor, deployment
        self.setWindowTitle(f"Edit deployment {deployment.name}" if deployment else "New deployment")
        self.stacks: dict[uuid.UUID, StackInfo] = {}
        self.saved_deployment: DeploymentInfo | None = None

        self.form = Form()
        self.name = text_field("name", "web", deployment.name if deployment else "")
        self.name.setEnabled(deployment is None)  # the engine keeps a deployment's name
        self.stack = QComboBox()
        self.stack.setObjectName("stack")
        self.stack.currentIndexChanged.connect(self._stack_changed)
        self.cluster = QComboBox()
        self.cluster.setObjectName("cluster")
        self.namespace = text_field("namespace", "default", deployment.namespace if deployment else "default")
        self.replicas = QSpinBox()
        self.replicas.setObjectName("replicas")
        self.replicas.setRange(0, 10_000)
        self.replicas.setValue(deployment.replicas if deployment else 1)
        placement = deployment.placement if deployment else {}
        selector = placement.get("node_selector") or {}
        self.node_selector = text_field(
            "node-selector", "e.g. gpu=true, zone=lab", ", ".join(f"{k}={v}" for k, v in selector.items())
        )
        self.hostname = text_field("hostname", "any node", str(placement.get("hostname") or ""))
        self.form.add(
            "name", "Name", self.name, hint="" if deployment is None else "A deployment keeps its name."
        )
        self.form.add("stack_id", "Stack", self.stack)
        self.form.add("cluster_id", "Cluster", self.cluster)
        self.form.add("namespace", "Namespace", self.namespace)
        self.form.add("replicas", "Replicas", self.replicas, hint="Ignored for daemonsets.")
        self.form.add("placement", "Node selector", self.node_selector, hint="Extra node labels, key=value.")
        self.form.add("placement.hostname", "Pinned host", self.hostname, hint="Run only on this node.")

        self.env = EnvEditor()
        self.config = ConfigEditor()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("deployment-tabs")
        self.tabs.addTab(_scroll(self.form), "General")
        self.tabs.addTab(_scroll(self.env), "Environment")
        self.tabs.addTab(_scroll(self.config), "Config files")
        self.buttons = Buttons(self, "Save" if deployment else "Create")
        self.buttons.ok.clicked.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)
        self.resize(640, 560)
        self.buttons.set_busy(True)
        self.load_choices()

    # -- choices ----------------------------------------------------------------------------
    def load_choices(self) -> None:
        async def load() -> tuple[list[StackInfo], list[ClusterInfo]]:
            stacks = (await self.engine.stacks.list_stacks(self.actor, limit=500)).items
            return stacks, await self.engine.clusters.list_clusters(self.actor)

        run_op(
            self,
            load,
            on_success=lambda result: self._choices_loaded(*result),
            on_failure=self.form.show_error,
            key="deployments.dialog.choices",
            progress_text="Loading stacks and clusters…",
        )

    def _choices_loaded(self, stacks: list[StackInfo], clusters: list[ClusterInfo]) -> None:
        self.stacks = {s.id: s for s in stacks}
        current = self.deployment
        self.stack.blockSignals(True)
        self.stack.clear()
        for info in stacks:
            self.stack.addItem(f"{info.name} ({info.kind}, {info.image})", str(info.id))
        self.stack.setCurrentIndex(-1 if current is None else self.stack.findData(str(current.stack_id)))
        self.stack.blockSignals(False)
        self.cluster.clear()
        for cluster in clusters:
            self.cluster.addItem(cluster.name, str(cluster.id))
        if current is not None:
            self.cluster.setCurrentIndex(self.cluster.findData(str(current.cluster_id)))
        self._stack_changed()
        self.buttons.set_busy(False)

    def select_stack(self, stack_id: uuid.UUID) -> None:
        self.stack.setCurrentIndex(self.stack.findData(str(stack_id)))

    def select_cluster(self, cluster_id: uuid.UUID) -> None:
        self.cluster.setCurrentIndex(self.cluster.findData(str(cluster_id)))

    def _stack_changed(self, _index: int = -1) -> None:
        chosen = _uuid(self.stack.currentData())
        info = self.stacks.get(chosen) if chosen is not None else None
        current = self.deployment
        same = current is not None and info is not None and info.id == current.stack_id
        env_values: Mapping[str, str] = current.env_values if same and current else {}
        stored = current.secret_env_names if same and current else []
        self.env.load(info.stack if info else None, env_values, stored)
        self.config.load(info.stack if info else None, current.config_values if same and current else {})

    # -- saving -----------------------------------------------------------------------------
    def _clear_errors(self) -> None:
        for form in (self.form, self.env.form, self.config.form):
            form.clear_errors()

    def submit(self) -> None:
        self._clear_errors()
        problems: dict[str, str] = {}
        if self.deployment is None and not self.name.text().strip():
            problems["name"] = "Give the deployment a name."
        stack_id, cluster_id = _uuid(self.stack.currentData()), _uuid(self.cluster.currentData())
        if stack_id is None:
            problems["stack_id"] = "Choose a stack."
        if cluster_id is None:
            problems["cluster_id"] = "Choose a cluster."
        try:
            selector = parse_selector(self.node_selector.text())
        except ValueError as exc:
            problems["placement"] = f"{exc}; write labels as key=value, separated by commas."
            selector = {}
        if problems:
            self.form.set_errors(problems)
            self.tabs.setCurrentIndex(GENERAL)
            return
        env_values, secret_values = self.env.values()
        placement: dict[str, Any] = {"node_selector": selector} if selector else {}
        if self.hostname.text().strip():
            placement["hostname"] = self.hostname.text().strip()
        fields: dict[str, Any] = {
            "stack_id": stack_id,
            "cluster_id": cluster_id,
            "namespace": self.namespace.text().strip(),
            "replicas": self.replicas.value(),
            "env_values": env_values,
            "secret_values": secret_values,
            "config_values": self.config.values(),
            "placement": placement,
        }
        current = self.deployment
        if current is None:
            name = self.name.text().strip()
            call = lambda: self.engine.deployments.create_deployment(self.actor, name=name, **fields)  # noqa: E731
        else:
            call = lambda: self.engine.deployments.update_deployment(  # noqa: E731
                self.actor, current.id, expected_version=current.version, **fields
            )
        self.buttons.set_busy(True)
        run_op(
            self,
            call,
            on_success=self._saved,
            on_failure=self._failed,
            key="deployments.dialog.save",
            progress_text="Saving the deployment…",
        )

    def _saved(self, info: DeploymentInfo) -> None:
        self.buttons.set_busy(False)
        self.saved_deployment = info
        self.saved.emit(info)
        self.accept()

    def _failed(self, error: BaseException) -> bool:
        self.buttons.set_busy(False)
        if not isinstance(error, ValidationError) or not error.errors:
            return self.form.show_error(error)
        general: dict[str, str] = {}
        sections: dict[int, dict[str, str]] = {ENVIRONMENT: {}, CONFIG: {}}
        for key, text in error.errors.items():
            for prefix, tab in _SECTION_PREFIXES:
                if key.startswith(prefix):
                    sections[tab][key.removeprefix(prefix).split(".")[0]] = text
                    break
            else:  # the engine's placement error has its reason in the message only
                general[_general_key(key)] = str(error) if key == "placement" else text
        first = None
        for tab, form, errors in ((ENVIRONMENT, self.env.form, sections[ENVIRONMENT]),
                                  (CONFIG, self.config.form, sections[CONFIG])):  # fmt: skip
            if errors:
                form.set_errors(errors)
                first = tab if first is None else first
        if general or first is None:
            self.form.set_errors(general, "" if general else str(error))
            first = GENERAL
        self.tabs.setCurrentIndex(first)
        return True


def _general_key(key: str) -> str:
    if key == "placement.hostname":
        return key
    if key.startswith("placement"):
        return "placement"
    return key.split(".")[0]


def _uuid(value: object) -> uuid.UUID | None:
    return uuid.UUID(value) if isinstance(value, str) and value else None
