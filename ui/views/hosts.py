"""Hosts: a table paged, sorted and filtered by the database; a detail panel; host actions.

The model holds ids and pages rows from ``engine.hosts.list_hosts`` (it stays fast
at 10,000+ hosts). A keystroke in the text filter waits a moment (debounce) and
then reloads; a newer load cancels the stale one. Provision, wipe and register
cluster call ``engine.provisioning`` when the engine has it; until then they are
disabled and say so.
"""

from __future__ import annotations

import uuid
from html import escape
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from podwarden.engine.models.fleet import HostState
from podwarden.engine.security.rbac import Permission, Permissions
from podwarden.engine.services.discovery import DiscoveryResult
from podwarden.engine.services.hosts import NETWORK_TYPES, HostInfo
from podwarden.engine.services.probe import ProbeReport
from podwarden.ui.context import UiContext
from podwarden.ui.dialogs.add_host import AddHostDialog
from podwarden.ui.dialogs.base import confirm
from podwarden.ui.dialogs.provision import ProvisionDialog
from podwarden.ui.format import when
from podwarden.ui.models.hosts import STATE_COLORS, HostsModel, gib, gpu_text
from podwarden.ui.ops import run_op
from podwarden.ui.roles import allowed, guard
from podwarden.ui.views.base import View
from podwarden.ui.widgets.layout import master_detail, toolbar
from podwarden.ui.widgets.table import select_key, table_view

#: How long the text filter waits after a keystroke before it asks the database.
DEBOUNCE_MS = 150
NO_PROVISIONING = "arrives with provisioning"
NO_SELECTION = "Select a host first."
_TOOLTIP = "podwarden_tooltip"


def protection_reason(host: HostInfo) -> str | None:
    """Why PodWarden refuses to delete or wipe ``host`` (None: it may)."""
    if host.cluster_id is not None or host.state is HostState.IN_CLUSTER:
        return f"{host.hostname} is a cluster member; remove it from the cluster first."
    if host.kubernetes_detected:
        return f"{host.hostname} is protected: Kubernetes was detected on it."
    if host.protected:
        return f"{host.hostname} is protected."
    return None


def _combo(name: str, items: list[tuple[str, Any]]) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for text, data in items:
        combo.addItem(text, data)
    return combo


class HostsView(View):
    watched = frozenset({"hosts"})

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.setObjectName("page-hosts")
        self.model = HostsModel(ctx.engine, ctx.actor, parent=self)
        self.selected: uuid.UUID | None = None

        # -- filters ------------------------------------------------------------------------
        self.state_filter = _combo(
            "state-filter", [("All states", None)] + [(s.value, s.value) for s in HostState]
        )
        self.network_filter = _combo(
            "network-filter", [("Any network", None)] + [(n, n) for n in NETWORK_TYPES]
        )
        self.gpu_filter = _combo(
            "gpu-filter", [("GPU or not", None), ("With GPU", True), ("Without GPU", False)]
        )
        self.text_filter = QLineEdit()
        self.text_filter.setObjectName("text-filter")
        self.text_filter.setPlaceholderText("Filter: name, address…")
        self.text_filter.setClearButtonEnabled(True)
        self.count_label = QLabel()
        self.count_label.setObjectName("hosts-count")
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self._text_changed)
        self.text_filter.textChanged.connect(lambda _t: self.debounce.start())
        self.state_filter.currentIndexChanged.connect(self._filters_changed)
        self.network_filter.currentIndexChanged.connect(self._filters_changed)
        self.gpu_filter.currentIndexChanged.connect(self._filters_changed)

        # -- actions ------------------------------------------------------------------------
        self.discover_button = self._button(
            "discover", "Discover now", Permissions.HOSTS_MANAGE, "List the tailnet's devices now"
        )
        self.add_button = self._button(
            "add-host", "Add host…", Permissions.HOSTS_MANAGE, "Add a host by address"
        )
        self.probe_button = self._button(
            "probe", "Probe", Permissions.HOSTS_MANAGE, "Probe the selected host over SSH"
        )
        self.accept_key_button = self._button(
            "accept-key",
            "Accept host key",
            Permissions.HOSTS_TRUST_KEY,
            "Trust the SSH host key a probe found changed",
        )
        self.delete_button = self._button(
            "delete-host", "Delete", Permissions.HOSTS_MANAGE, "Forget the selected host"
        )
        self.provision_button = self._button(
            "provision", "Provision…", Permissions.HOSTS_PROVISION, "Install K3s: an agent or a control plane"
        )
        self.wipe_button = self._button(
            "wipe", "Wipe…", Permissions.HOSTS_WIPE, "Uninstall K3s and remove its data"
        )
        self.register_button = self._button(
            "register-cluster",
            "Register cluster",
            Permissions.CLUSTERS_MANAGE,
            "Add the cluster this host runs",
        )
        self.discover_button.clicked.connect(self.discover_now)
        self.add_button.clicked.connect(self.add_host)
        self.probe_button.clicked.connect(self.probe_selected)
        self.accept_key_button.clicked.connect(self.accept_host_key)
        self.delete_button.clicked.connect(self.delete_selected)
        self.provision_button.clicked.connect(lambda: self._provisioning_call("provision"))
        self.wipe_button.clicked.connect(lambda: self._provisioning_call("wipe"))
        self.register_button.clicked.connect(lambda: self._provisioning_call("register"))

        # -- table and detail ---------------------------------------------------------------
        self.table = table_view(self.model, "hosts-table", stretch=len(self.model.columns) - 1)
        header = self.table.horizontalHeader()
        header.setSortIndicatorShown(True)
        header.setSectionsClickable(True)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        header.sortIndicatorChanged.connect(self.model.sort)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.title = QLabel("No host selected")
        self.title.setObjectName("host-title")
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.badge = QLabel()
        self.badge.setObjectName("protected-badge")
        self.badge.setStyleSheet("color: white; background: #986a44; border-radius: 4px; padding: 1px 6px;")
        self.badge.setVisible(False)
        self.detail = QLabel()
        self.detail.setObjectName("host-detail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.notice = QLabel()
        self.notice.setObjectName("host-notice")
        self.notice.setWordWrap(True)

        filters = QHBoxLayout()
        filters.addWidget(self.text_filter, 2)
        filters.addWidget(self.state_filter)
        filters.addWidget(self.network_filter)
        filters.addWidget(self.gpu_filter)
        filters.addWidget(self.count_label)
        actions = QHBoxLayout()
        for button in (self.discover_button, self.add_button, self.probe_button, self.accept_key_button):
            actions.addWidget(button)
        actions.addStretch(1)
        for button in (self.provision_button, self.register_button, self.wipe_button, self.delete_button):
            actions.addWidget(button)
        title_row = toolbar([self.title, self.badge])
        master_detail(
            self, [filters, actions], self.table, [title_row, self.detail, self.notice],
            stretch=(3, 1), expand=1,
        )  # fmt: skip

        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.modelReset.connect(self._show_count)
        self.model.rowsInserted.connect(lambda *_: self._show_count())
        self.model.rowsRemoved.connect(lambda *_: self._show_count())
        self.model.dataChanged.connect(self._rows_changed)
        self._update_actions()

    def _button(self, name: str, text: str, permission: Permission, tooltip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        guard(button, self.actor, permission, tooltip=tooltip)
        return button

    # -- loading ----------------------------------------------------------------------------
    def reload(self) -> None:
        self.model.reload()

    def on_change(self, table: str, ids: tuple[str, ...] | None) -> None:
        if ids is None:
            self.model.reload()
        else:
            self.model.refresh(uuid.UUID(i) for i in ids)

    def _text_changed(self) -> None:
        self.model.set_filters(text=self.text_filter.text())

    def _filters_changed(self, _index: int) -> None:
        self.model.set_filters(
            state=None
            if self.state_filter.currentData() is None
            else HostState(self.state_filter.currentData()),
            network_type=self.network_filter.currentData(),
            has_gpu=self.gpu_filter.currentData(),
        )

    def _show_count(self) -> None:
        shown, total = self.model.rowCount(), max(self.model.total, self.model.rowCount())
        self.count_label.setText(f"{total} hosts" if shown >= total else f"{shown} of {total} hosts")

    # -- selection and detail ---------------------------------------------------------------
    def select_host(self, host_id: uuid.UUID) -> bool:
        return select_key(self.table, self.model, host_id)

    @property
    def selected_host(self) -> HostInfo | None:
        return None if self.selected is None else self.model.get(self.selected)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.selected = self.model.key_at(rows[0].row()) if rows else None
        self.notice.clear()
        self._show_detail()

    def _remember_selection(self) -> None:
        self._kept = self.selected

    def _restore_selection(self) -> None:
        kept = getattr(self, "_kept", None)
        if kept is None or not self.select_host(kept):
            self.selected = None
            self._show_detail()

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        row = None if self.selected is None else self.model.row_of(self.selected)
        if row is not None and top.row() <= row <= bottom.row():
            self._show_detail()

    def _show_detail(self) -> None:
        host = self.selected_host
        if host is None:
            self.title.setText("No host selected")
            self.badge.setVisible(False)
            self.detail.clear()
        else:
            self.title.setText(host.hostname)
            reason = protection_reason(host)
            self.badge.setText(
                "protected" if host.protected or host.kubernetes_detected else "cluster member"
            )
            self.badge.setToolTip(reason or "")
            self.badge.setVisible(reason is not None)
            self.detail.setText(detail_html(host))
        self._update_actions()

    def _set(self, button: QPushButton, enabled: bool, reason: str = "") -> None:
        """Enable ``button`` if the role may and ``enabled``; else the tooltip says why."""
        if not allowed(button):
            return  # the role's reason stays in the tooltip
        button.setEnabled(enabled)
        button.setToolTip(str(button.property(_TOOLTIP) or "") if enabled else reason)

    def _update_actions(self) -> None:
        host = self.selected_host
        chosen = host is not None
        self._set(self.probe_button, chosen, NO_SELECTION)
        pending = host is not None and host.host_key_pending
        self._set(self.accept_key_button, pending, "No changed SSH host key waits on the selected host.")
        blocked = None if host is None else protection_reason(host)
        self._set(self.delete_button, chosen and blocked is None, blocked or NO_SELECTION)
        has_provisioning = self._provisioning() is not None
        unavailable = NO_SELECTION if not chosen else NO_PROVISIONING
        # Provisioning re-installs K3s: refused for protected hosts, like wipe.
        self._set(
            self.provision_button,
            chosen and blocked is None and has_provisioning,
            NO_SELECTION if not chosen else (blocked or NO_PROVISIONING),
        )
        in_cluster = host is not None and host.cluster_id is not None
        self._set(
            self.register_button,
            chosen and has_provisioning and not in_cluster,
            f"{host.hostname} is already in a cluster." if host is not None and in_cluster else unavailable,
        )
        wipe_reason = NO_SELECTION if not chosen else (blocked or NO_PROVISIONING)
        self._set(self.wipe_button, chosen and blocked is None and has_provisioning, wipe_reason)

    # -- actions ----------------------------------------------------------------------------
    def discover_now(self) -> None:
        self.discover_button.setEnabled(False)
        run_op(
            self,
            lambda: self.engine.discovery.discover_now(self.actor),
            on_success=self._discovered,
            on_failure=self._discover_failed,
            key="hosts.discover",
            progress_text="Discovering Tailscale devices…",
        )

    def _discover_failed(self, _error: BaseException) -> bool:
        self.discover_button.setEnabled(allowed(self.discover_button))
        return False  # the error panel shows it

    def _discovered(self, result: DiscoveryResult) -> None:
        self.discover_button.setEnabled(allowed(self.discover_button))
        self.notice.setText(
            f"Discovery: {result.devices} devices; {result.added} added, {result.updated} updated, "
            f"{result.missing} missing ({result.duration:.1f} s)."
        )

    def add_host(self) -> AddHostDialog:
        dialog = AddHostDialog(self.engine, self.actor, self)
        dialog.created.connect(self._host_added)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()
        return dialog

    def _host_added(self, host: HostInfo) -> None:
        self.notice.setText(f"Added {host.hostname}. Probe it to learn its hardware.")
        self.model.refresh([host.id])

    def probe_selected(self) -> None:
        host = self.selected_host
        if host is None:
            return
        self.notice.setText(f"Probing {host.hostname}… (the Jobs view shows the output)")
        run_op(
            self,
            lambda: self.engine.probe.probe_hosts(self.actor, [host.id]),
            on_success=self._probed,
            key=f"hosts.probe.{host.id}",
            progress_text=f"Probing {host.hostname}…",
        )

    def _probed(self, report: ProbeReport) -> None:
        self.notice.setText("\n".join(item.line for item in report.hosts))
        self.model.refresh([item.host_id for item in report.hosts])

    def accept_host_key(self) -> None:
        host = self.selected_host
        if host is None:
            return
        confirm(
            self,
            "Accept the changed host key",
            f"The SSH host key of {host.hostname} changed since PodWarden pinned it. Trust the new key "
            "only if you know why it changed (a reinstall); otherwise someone may be in between.",
            lambda: run_op(
                self,
                lambda: self.engine.probe.accept_host_key(self.actor, host.id),
                on_success=lambda _pinned: self.model.refresh([host.id]),
                key=f"hosts.accept_key.{host.id}",
                progress_text=f"Trusting the new key of {host.hostname}…",
            ),
            yes_text="Trust the new key",
        )

    def delete_selected(self) -> None:
        host = self.selected_host
        if host is None or protection_reason(host) is not None:
            return
        confirm(
            self,
            f"Delete {host.hostname}",
            f"Forget the host {host.hostname} and its stored SSH key? Nothing on the machine changes; "
            "a Tailscale host comes back at the next discovery.",
            lambda: run_op(
                self,
                lambda: self.engine.hosts.delete_host(self.actor, host.id, expected_version=host.version),
                on_success=lambda _none: self.model.remove(host.id),
                key=f"hosts.delete.{host.id}",
                progress_text=f"Deleting {host.hostname}…",
            ),
            yes_text=f"Delete {host.hostname}",
        )

    # -- provisioning (a thin call into engine.provisioning, when it exists) ------------------
    def _provisioning(self) -> Any:
        return getattr(self.engine, "provisioning", None)

    def _provisioning_call(self, what: str) -> None:
        host, service = self.selected_host, self._provisioning()
        if host is None or service is None:
            return
        if what in ("provision", "register"):
            dialog = ProvisionDialog(
                self.engine,
                self.actor,
                service,
                host,
                self,
                register=what == "register",
                on_started=lambda _job: self.model.refresh([host.id]),
            )
            dialog.finished.connect(lambda _r: dialog.deleteLater())
            dialog.open()
            return
        confirm(
            self,
            f"Wipe {host.hostname}",
            f"Wipe {host.hostname}? This uninstalls K3s and removes its data on the machine; it runs as a "
            "job (see Jobs).",
            lambda: run_op(
                self,
                lambda: service.wipe(self.actor, host.id),
                on_success=lambda _job: self.model.refresh([host.id]),
                key=f"hosts.wipe.{host.id}",
                progress_text=f"Wiping {host.hostname}…",
            ),
            yes_text=f"Wipe {host.hostname}",
        )


def detail_html(host: HostInfo) -> str:
    """The detail panel: identity, hardware, GPUs, networks, SSH and the last probe."""
    rows: list[tuple[str, str]] = [
        ("State", f"<span style='color:{STATE_COLORS.get(host.state, '')}'>{host.state.value}</span>"),
        ("Source", host.source.value + (f" ({host.tailscale_name})" if host.tailscale_name else "")),
        ("Addresses", ", ".join(host.addresses) or "–"),
        (
            "SSH",
            f"{host.ssh_user}@{host.ssh_address or '?'}:{host.ssh_port} · "
            + ("ssh-agent" if host.uses_ssh_agent else "stored key")
            + (" · host key pinned" if host.host_key_pinned else " · host key not pinned yet"),
        ),
        ("OS", host.os or "–"),
        ("CPU", f"{host.cpu_cores} cores · {host.cpu_model or ''}" if host.cpu_cores else "–"),
        ("Memory", gib(host.memory_bytes) or "–"),
        ("Disk", gib(host.disk_bytes) or "–"),
        ("GPUs", gpu_text(host) or "none"),
        ("Networks", ", ".join(host.network_types) or "–"),
        ("Public IP", host.public_ip or "–"),
        ("Cluster", f"{host.cluster_role or 'member'}" if host.cluster_id else "–"),
        ("Kubernetes", "detected" if host.kubernetes_detected else "not detected"),
        ("Last probe", when(host.last_probe_at) or "never"),
    ]
    if host.host_key_pending:
        rows.append(("Host key", "<span style='color:#c01c28'>changed: an admin must accept it</span>"))
    if host.notes:
        rows.append(("Notes", escape(host.notes)))
    safe = {"State", "Host key", "Notes"}  # built here, or escaped above
    rows = [(k, v if k in safe else escape(v)) for k, v in rows]
    body = "".join(
        f"<tr><td style='color:gray;padding-right:10px'>{k}</td><td>{v}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"
