#!/bin/sh
# STAND-IN for the K3s install script (https://get.k3s.io) — FOR TESTS ONLY.
#
# K3s cannot be downloaded on the test machines, so this script takes the place
# of the real install.sh in the air-gapped artifact folder. It does not install
# Kubernetes. It:
#   - refuses to run without INSTALL_K3S_SKIP_DOWNLOAD=true and an executable
#     k3s binary in INSTALL_K3S_BIN_DIR (as the real script does air-gapped);
#   - records its arguments and the K3s environment to
#     $PODWARDEN_K3S_PREFIX/k3s-standin/install-record (key=value lines);
#   - creates what a real install leaves behind, all under $PODWARDEN_K3S_PREFIX:
#     /etc/rancher/k3s/k3s.yaml (server: a kubeconfig with a fresh CA, server
#     https://127.0.0.1:6443 and a token), /var/lib/rancher/k3s/server/node-token
#     (server), /var/lib/rancher/k3s/agent/, the systemd unit file, and the
#     uninstall script (k3s-uninstall.sh or k3s-agent-uninstall.sh) that removes
#     it all again;
#   - sleeps STANDIN_SLEEP seconds first when set (to test cancelling), and
#     fails with exit 1 when STANDIN_FAIL is set.
set -eu

P="${PODWARDEN_K3S_PREFIX:-}"
if [ -z "$P" ]; then
    echo "k3s stand-in: PODWARDEN_K3S_PREFIX is not set; refusing to write outside a test prefix" >&2
    exit 2
fi
BIN="${INSTALL_K3S_BIN_DIR:-$P/usr/local/bin}"
SYSTEMD="${INSTALL_K3S_SYSTEMD_DIR:-$P/etc/systemd/system}"
case "$BIN" in "$P"/*) ;; *) echo "k3s stand-in: INSTALL_K3S_BIN_DIR must be under $P" >&2; exit 2 ;; esac
case "$SYSTEMD" in "$P"/*) ;; *) echo "k3s stand-in: INSTALL_K3S_SYSTEMD_DIR must be under $P" >&2; exit 2 ;; esac

if [ -n "${STANDIN_SLEEP:-}" ]; then
    echo "k3s stand-in: sleeping ${STANDIN_SLEEP}s"
    i=0
    while [ "$i" -lt "$STANDIN_SLEEP" ] && [ -d "$P" ]; do sleep 1; i=$((i + 1)); done
    [ -d "$P" ] || { echo "k3s stand-in: $P went away while sleeping" >&2; exit 3; }
fi
if [ -n "${STANDIN_FAIL:-}" ]; then
    echo "k3s stand-in: failing on purpose (STANDIN_FAIL=$STANDIN_FAIL)" >&2
    exit 1
fi
if [ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" != "true" ]; then
    echo "k3s stand-in: INSTALL_K3S_SKIP_DOWNLOAD is not true; the real script would download K3s" >&2
    exit 1
fi
if [ ! -x "$BIN/k3s" ]; then
    echo "[ERROR]  Executable k3s binary not found at $BIN/k3s" >&2
    exit 1
fi

EXEC="${INSTALL_K3S_EXEC:-} $*"
if [ -n "${K3S_URL:-}" ]; then ROLE=agent; else ROLE="${EXEC# }"; ROLE="${ROLE%% *}"; fi
[ "$ROLE" = agent ] || ROLE=server

mkdir -p "$P/k3s-standin"
{
    printf 'ARGS=%s\n' "$*"
    printf 'ROLE=%s\n' "$ROLE"
    for name in INSTALL_K3S_EXEC INSTALL_K3S_SKIP_DOWNLOAD INSTALL_K3S_BIN_DIR INSTALL_K3S_SYSTEMD_DIR \
        K3S_URL K3S_TOKEN INSTALL_K3S_SKIP_START; do
        eval "value=\${$name-}"
        printf '%s=%s\n' "$name" "$value"
    done
} > "$P/k3s-standin/install-record"

mkdir -p "$P/etc/rancher/k3s" "$P/var/lib/rancher/k3s/agent" "$SYSTEMD"
if [ "$ROLE" = server ]; then
    UNIT=k3s
    UNINSTALL="$BIN/k3s-uninstall.sh"
    mkdir -p "$P/var/lib/rancher/k3s/server/tls"
    TLS="$P/var/lib/rancher/k3s/server/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=k3s-server-ca@standin" -keyout "$TLS/server-ca.key" -out "$TLS/server-ca.crt" 2>/dev/null
    TOKEN="K10standin$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')::server:$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$TOKEN" > "$P/var/lib/rancher/k3s/server/node-token"
    chmod 600 "$P/var/lib/rancher/k3s/server/node-token"
    CA=$(base64 -w0 < "$TLS/server-ca.crt")
    ADMIN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    cat > "$P/etc/rancher/k3s/k3s.yaml" <<YAML
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $CA
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    token: standin-admin-$ADMIN
YAML
    chmod 600 "$P/etc/rancher/k3s/k3s.yaml"
else
    UNIT=k3s-agent
    UNINSTALL="$BIN/k3s-agent-uninstall.sh"
fi
printf '[Unit]\nDescription=Lightweight Kubernetes (stand-in)\n[Service]\nExecStart=%s/k3s %s\n' \
    "$BIN" "$EXEC" > "$SYSTEMD/$UNIT.service"
ln -sf k3s "$BIN/kubectl"

cat > "$UNINSTALL" <<UNINST
#!/bin/sh
# Stand-in K3s uninstall script (tests only): removes what the stand-in install made.
set -e
rm -f "$SYSTEMD/$UNIT.service" "$BIN/kubectl" "$BIN/k3s"
rm -rf "$P/etc/rancher/k3s" "$P/var/lib/rancher/k3s" "$P/k3s-standin"
rmdir "$P/etc/rancher" "$P/var/lib/rancher" 2>/dev/null || true
rm -f "\$0"
echo "stand-in k3s uninstalled"
UNINST
chmod 755 "$UNINSTALL"
echo "[INFO]  stand-in: K3s $ROLE 'installed' under $P (args: $EXEC)"
