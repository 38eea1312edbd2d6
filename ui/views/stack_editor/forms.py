"""The stack's single-valued fields as three forms (general, resources, network), each
loading its part of a stack document and writing what was typed back into one.

Errors land under the fields through :class:`podwarden.ui.widgets.form.Form`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLineEdit, QPlainTextEdit, QSpinBox, QWidget

from podwarden.ui.widgets.form import Form

NETWORK_TYPES = ("public", "mesh", "lan")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
KINDS = ("deployment", "daemonset", "job")
Slot = Callable[..., None]


def line(name: str, placeholder: str = "") -> QLineEdit:
    field = QLineEdit()
    field.setObjectName(name)
    field.setPlaceholderText(placeholder)
    return field


def lines(name: str, placeholder: str) -> QPlainTextEdit:
    field = QPlainTextEdit()
    field.setObjectName(name)
    field.setPlaceholderText(placeholder)
    field.setTabChangesFocus(True)
    field.setFixedHeight(64)
    return field


def combo(name: str, items: tuple[str, ...]) -> QComboBox:
    box = QComboBox()
    box.setObjectName(name)
    box.addItems(list(items))
    return box


class GeneralForm(Form):
    """Name, description, kind, version, tags, image, tag, registry, command and args."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = line("stack-name", "lowercase DNS label, e.g. whisper-api")
        self.description = line("stack-description")
        self.kind = combo("stack-kind", KINDS)
        self.version = line("stack-version", "1")
        self.tags = line("stack-tags", "comma separated, e.g. ai, gpu")
        self.image = line("stack-image", "e.g. postgres or ghcr.io/org/app (no tag)")
        self.image_tag = line("stack-image-tag", "empty: the fleet's default tag")
        self.registry_url = line("stack-registry", "e.g. registry.example.com:5000 (empty: Docker Hub)")
        self.registry_secret = line("stack-registry-secret", "name of a registry secret")
        self.command = lines("stack-command", "one item per line (empty: the image's entrypoint)")
        self.args = lines("stack-args", "one item per line")
        rows: list[tuple[str, str, QWidget]] = [
            ("name", "Name", self.name),
            ("description", "Description", self.description),
            ("kind", "Kind", self.kind),
            ("version", "Version", self.version),
            ("tags", "Tags", self.tags),
            ("image", "Image", self.image),
            ("image_tag", "Image tag", self.image_tag),
            ("registry_url", "Registry", self.registry_url),
            ("registry_secret", "Registry credentials", self.registry_secret),
            ("command", "Command", self.command),
            ("args", "Arguments", self.args),
        ]
        for key, label, widget in rows:
            self.add(key, label, widget)

    def _lines(self) -> dict[str, QLineEdit]:
        return {
            "description": self.description,
            "version": self.version,
            "image_tag": self.image_tag,
            "registry_url": self.registry_url,
            "registry_secret": self.registry_secret,
        }

    def watch(self, slot: Slot) -> None:
        for field in (self.name, self.image, self.tags, *self._lines().values()):
            field.textEdited.connect(slot)
        self.command.textChanged.connect(slot)
        self.args.textChanged.connect(slot)
        self.kind.currentIndexChanged.connect(slot)

    def load(self, doc: dict[str, Any]) -> None:
        self.name.setText(doc.get("name", ""))
        self.image.setText(doc.get("image", ""))
        self.kind.setCurrentText(doc.get("kind", "deployment"))
        for key, field in self._lines().items():
            field.setText(doc.get(key) or ("1" if key == "version" else ""))
        self.tags.setText(", ".join(doc.get("tags", [])))
        self.command.setPlainText("\n".join(doc.get("command", [])))
        self.args.setPlainText("\n".join(doc.get("args", [])))

    def write(self, doc: dict[str, Any]) -> None:
        doc["name"] = self.name.text().strip()
        doc["kind"] = self.kind.currentText()
        doc["image"] = self.image.text().strip()
        for key, field in self._lines().items():
            value = field.text() if key == "description" else field.text().strip()
            if value:
                doc[key] = value
        tags = [tag.strip() for tag in self.tags.text().split(",") if tag.strip()]
        if tags:
            doc["tags"] = tags
        for key, text in (("command", self.command), ("args", self.args)):
            items = [item for item in text.toPlainText().splitlines() if item.strip()]
            if items:
                doc[key] = items


class ResourcesForm(Form):
    """CPU and memory requests/limits, GPUs (nvidia.com/gpu) and the VRAM request."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, prefix="resources.")
        self.cpu_request = line("cpu-request", "e.g. 500m")
        self.cpu_limit = line("cpu-limit", "e.g. 2")
        self.memory_request = line("memory-request", "e.g. 512Mi")
        self.memory_limit = line("memory-limit", "e.g. 2Gi")
        self.gpu_count = QSpinBox()
        self.gpu_count.setObjectName("gpu-count")
        self.gpu_count.setRange(0, 1024)
        self.vram = line("vram-request", "MiB of GPU memory, e.g. 8000")
        rows: list[tuple[str, str, QWidget, str]] = [
            ("cpu_request", "CPU request", self.cpu_request, ""),
            ("cpu_limit", "CPU limit", self.cpu_limit, ""),
            ("memory_request", "Memory request", self.memory_request, ""),
            ("memory_limit", "Memory limit", self.memory_limit, ""),
            ("gpu_count", "GPUs", self.gpu_count, "Becomes an nvidia.com/gpu limit"),
            ("vram_request_mb", "VRAM (MiB)", self.vram, ""),
        ]
        for key, label, widget, hint in rows:
            self.add(key, label, widget, hint=hint)

    def _lines(self) -> dict[str, QLineEdit]:
        return {
            "cpu_request": self.cpu_request,
            "cpu_limit": self.cpu_limit,
            "memory_request": self.memory_request,
            "memory_limit": self.memory_limit,
            "vram_request_mb": self.vram,
        }

    def watch(self, slot: Slot) -> None:
        for field in self._lines().values():
            field.textEdited.connect(slot)
        self.gpu_count.valueChanged.connect(slot)

    def load(self, doc: dict[str, Any]) -> None:
        resources = doc.get("resources", {})
        for key, field in self._lines().items():
            value = resources.get(key)
            field.setText("" if value is None else str(value))
        self.gpu_count.setValue(int(resources.get("gpu_count", 0)))

    def write(self, doc: dict[str, Any]) -> None:
        resources: dict[str, Any] = {}
        for key, field in self._lines().items():
            text = field.text().strip()
            if text:  # a VRAM that is not a number goes as text: the engine says why
                resources[key] = int(text) if key == "vram_request_mb" and text.isdigit() else text
        if self.gpu_count.value():
            resources["gpu_count"] = self.gpu_count.value()
        if resources:
            doc["resources"] = resources


class NetworkForm(Form):
    """Host network, DNS policy and the required network types."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host_network = QCheckBox("Use the node's network namespace")
        self.host_network.setObjectName("host-network")
        self.dns_policy = combo("dns-policy", DNS_POLICIES)
        networks = QWidget()
        networks.setObjectName("required-networks")
        row = QHBoxLayout(networks)
        row.setContentsMargins(0, 0, 0, 0)
        self.network_types: dict[str, QCheckBox] = {}
        for kind in NETWORK_TYPES:
            box = QCheckBox(kind)
            box.setObjectName(f"network-{kind}")
            self.network_types[kind] = box
            row.addWidget(box)
        row.addStretch(1)
        self.add("host_network", "Host network", self.host_network)
        self.add("dns_policy", "DNS policy", self.dns_policy)
        self.add(
            "required_network_types",
            "Required networks",
            networks,
            hint="Every host of the target cluster must offer these network types.",
        )

    def watch(self, slot: Slot) -> None:
        for box in (self.host_network, *self.network_types.values()):
            box.toggled.connect(slot)
        self.dns_policy.currentIndexChanged.connect(slot)

    def load(self, doc: dict[str, Any]) -> None:
        self.host_network.setChecked(bool(doc.get("host_network", False)))
        self.dns_policy.setCurrentText(doc.get("dns_policy", "ClusterFirst"))
        wanted = set(doc.get("required_network_types", []))
        for kind, box in self.network_types.items():
            box.setChecked(kind in wanted)

    def write(self, doc: dict[str, Any]) -> None:
        if self.host_network.isChecked():
            doc["host_network"] = True
        doc["dns_policy"] = self.dns_policy.currentText()
        networks = [kind for kind, box in self.network_types.items() if box.isChecked()]
        if networks:
            doc["required_network_types"] = networks

    def set_read_only(self, read_only: bool) -> None:
        for widget in (self.host_network, self.dns_policy, *self.network_types.values()):
            widget.setEnabled(not read_only)
