"""Kubeconfig parsing and validation (engine/parsers/kubeconfig.py) with realistic files."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from podwarden.engine.errors import NotFoundError, ValidationError
from podwarden.engine.parsers.kubeconfig import (
    contexts_from_file,
    default_kubeconfig_path,
    load_kubeconfig_file,
    minimal_kubeconfig,
    parse_kubeconfig,
    rewrite_server,
)
from podwarden.engine.security.crypto import SecretValue
from tests.fakes.kube import TlsMaterial, tls_material

SA_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRlbW9LZXkifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lz"
    "dGVtOnNlcnZpY2VhY2NvdW50OnBvZHdhcmRlbjpwb2R3YXJkZW4ifQ.c2lnbmF0dXJlLW5vdC1yZWFsLWJ1dC1zaGFwZWQtbGlrZS1vbmU"
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def pki() -> TlsMaterial:
    return tls_material()


def k3s_yaml(pki: TlsMaterial, server: str = "https://127.0.0.1:6443") -> str:
    """What /etc/rancher/k3s/k3s.yaml looks like on a K3s server."""
    return f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {b64(pki.ca_pem)}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {b64(pki.client_cert_pem)}
    client-key-data: {b64(pki.client_key_pem)}
"""


def token_kubeconfig(pki: TlsMaterial) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: homelab
  cluster:
    server: https://k3s.home.arpa:6443/
    certificate-authority-data: |
      {b64(pki.ca_pem)[:60]}
      {b64(pki.ca_pem)[60:]}
users:
- name: podwarden-sa
  user:
    token: {SA_TOKEN}
contexts:
- name: homelab-podwarden
  context:
    cluster: homelab
    user: podwarden-sa
    namespace: apps
"""


def multi_context(pki: TlsMaterial) -> str:
    return f"""apiVersion: v1
kind: Config
current-context: kind-dev
clusters:
- name: kind-dev
  cluster:
    server: https://127.0.0.1:40123
    certificate-authority-data: {b64(pki.ca_pem)}
- name: rancher-prod
  cluster:
    server: https://rancher.example.com/k8s/clusters/c-m-abc123
- name: eks-staging
  cluster:
    server: https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com
    certificate-authority-data: {b64(pki.ca_pem)}
users:
- name: kind-dev
  user:
    client-certificate-data: {b64(pki.client_cert_pem)}
    client-key-data: {b64(pki.client_key_pem)}
- name: rancher-prod
  user:
    token: kubeconfig-user-abc12:{"x" * 52}
- name: eks-staging
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, staging]
contexts:
- name: kind-dev
  context: {{cluster: kind-dev, user: kind-dev}}
- name: rancher-prod
  context: {{cluster: rancher-prod, user: rancher-prod, namespace: web}}
- name: eks-staging
  context: {{cluster: eks-staging, user: eks-staging}}
"""


def mutate(text: str, fn: Any) -> str:
    doc = yaml.safe_load(text)
    fn(doc)
    return yaml.safe_dump(doc)


def field_error(text: str, *, context: str | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_kubeconfig(text, context)
    assert info.value.errors, "a ValidationError from the parser names the field"
    return info.value


# -- good kubeconfigs ------------------------------------------------------------------------------
def test_k3s_yaml_with_client_certificate(pki: TlsMaterial) -> None:
    parsed = parse_kubeconfig(k3s_yaml(pki))
    assert parsed.context.name == "default"
    assert (parsed.server.scheme, parsed.server.host, parsed.server.port) == ("https", "127.0.0.1", 6443)
    assert parsed.server.url == "https://127.0.0.1:6443"
    assert parsed.ca_pem is not None and parsed.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert parsed.credentials.methods == ("client-certificate",)
    assert parsed.credentials.certificate_subject == "CN=system:admin,O=system:masters"
    assert parsed.credentials.client_key_pem is not None
    assert "PRIVATE KEY" in parsed.credentials.client_key_pem.reveal()
    assert parsed.warnings == ()
    assert not parsed.insecure_skip_tls_verify


def test_token_kubeconfig_with_namespace_and_wrapped_base64(pki: TlsMaterial) -> None:
    parsed = parse_kubeconfig(token_kubeconfig(pki))
    assert parsed.context.namespace == "apps"
    assert parsed.server.url == "https://k3s.home.arpa:6443"  # trailing slash dropped
    assert parsed.server.port == 6443
    assert parsed.credentials.methods == ("token",)
    assert parsed.credentials.token == SecretValue(SA_TOKEN)
    assert parsed.ca_pem is not None


def test_secrets_do_not_show_in_repr(pki: TlsMaterial) -> None:
    parsed = parse_kubeconfig(token_kubeconfig(pki))
    assert SA_TOKEN not in repr(parsed)
    assert SA_TOKEN not in repr(parsed.credentials)
    cert_parsed = parse_kubeconfig(k3s_yaml(pki))
    assert "PRIVATE KEY" not in repr(cert_parsed)


def test_multi_context_uses_current_context_and_lists_all(pki: TlsMaterial) -> None:
    parsed = parse_kubeconfig(multi_context(pki))
    assert parsed.context.name == "kind-dev"
    assert parsed.context_names == ("kind-dev", "rancher-prod", "eks-staging")
    assert parsed.current_context == "kind-dev"


def test_multi_context_choose_another_with_https_path_prefix_and_system_cas(pki: TlsMaterial) -> None:
    parsed = parse_kubeconfig(multi_context(pki), "rancher-prod")
    assert parsed.server.url == "https://rancher.example.com/k8s/clusters/c-m-abc123"
    assert parsed.server.port == 443
    assert parsed.ca_pem is None  # public CA: the system's trust store applies
    assert parsed.context.namespace == "web"
    assert parsed.credentials.methods == ("token",)


def test_single_context_without_current_context_is_chosen(pki: TlsMaterial) -> None:
    text = mutate(token_kubeconfig(pki), lambda d: d.pop("current-context", None))
    assert parse_kubeconfig(text).context.name == "homelab-podwarden"


def test_basic_auth_and_plain_http_warn() -> None:
    text = """
clusters: [{name: c, cluster: {server: "http://10.0.0.5:8080"}}]
users: [{name: u, user: {username: admin, password: s3cret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
"""
    parsed = parse_kubeconfig(text)
    assert parsed.credentials.methods == ("basic",)
    assert parsed.credentials.username == "admin"
    assert parsed.server.port == 8080
    assert any("plain HTTP" in w for w in parsed.warnings)


def test_insecure_skip_tls_verify_is_allowed_with_a_warning() -> None:
    text = f"""
clusters: [{{name: c, cluster: {{server: "https://10.0.0.5:6443", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: {SA_TOKEN}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
"""
    parsed = parse_kubeconfig(text)
    assert parsed.insecure_skip_tls_verify
    assert any("insecure-skip-tls-verify" in w for w in parsed.warnings)


def test_expired_client_certificate_is_a_warning(pki: TlsMaterial) -> None:
    ca_key = serialization.load_pem_private_key(pki.client_key_pem, None)  # any key will sign
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-admin")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=35))
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    def swap(doc: dict[str, Any]) -> None:
        user = doc["users"][0]["user"]
        user["client-certificate-data"] = b64(cert.public_bytes(serialization.Encoding.PEM))
        user["client-key-data"] = b64(key_pem)

    parsed = parse_kubeconfig(mutate(k3s_yaml(pki), swap))
    assert any("expired" in w for w in parsed.warnings)


# -- malformed kubeconfigs -------------------------------------------------------------------------
def test_bad_yaml_says_where() -> None:
    error = field_error("apiVersion: v1\nclusters:\n  - name: x\n   cluster: {server: a\n")
    assert "not valid YAML" in error.message
    assert "line" in error.message
    assert error.errors == {"kubeconfig": "invalid YAML"}


@pytest.mark.parametrize("text", ["", "   \n", "- just\n- a list\n", "just a string"])
def test_empty_or_not_a_mapping(text: str) -> None:
    error = field_error(text)
    assert "kubeconfig" in error.errors


def test_other_kinds_of_yaml_are_refused() -> None:
    error = field_error("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    assert "not a kubeconfig" in error.message


def test_missing_contexts(pki: TlsMaterial) -> None:
    error = field_error(mutate(k3s_yaml(pki), lambda d: d.pop("contexts")))
    assert error.errors == {"contexts": "missing"}


def test_unknown_context_is_named_with_the_choices(pki: TlsMaterial) -> None:
    error = field_error(multi_context(pki), context="prod")
    assert "prod is not in this kubeconfig" in error.message
    assert "kind-dev, rancher-prod, eks-staging" in error.message


def test_current_context_pointing_nowhere(pki: TlsMaterial) -> None:
    error = field_error(mutate(k3s_yaml(pki), lambda d: d.update({"current-context": "gone"})))
    assert error.errors == {"current-context": "not found"}


def test_several_contexts_and_no_current_one_must_be_chosen(pki: TlsMaterial) -> None:
    error = field_error(mutate(multi_context(pki), lambda d: d.pop("current-context")))
    assert "choose one" in error.message


def test_context_naming_a_missing_cluster(pki: TlsMaterial) -> None:
    text = mutate(k3s_yaml(pki), lambda d: d["contexts"][0]["context"].update({"cluster": "elsewhere"}))
    error = field_error(text)
    assert "cluster elsewhere" in error.message
    assert error.errors == {"contexts[default].context.cluster": "not found"}


def test_bad_base64_ca(pki: TlsMaterial) -> None:
    text = mutate(
        k3s_yaml(pki),
        lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": "LS0t!!notbase64"}),
    )
    error = field_error(text)
    assert error.errors == {"clusters[default].cluster.certificate-authority-data": "bad base64"}
    assert "not valid base64" in error.message


def test_ca_that_is_base64_but_not_a_certificate(pki: TlsMaterial) -> None:
    text = mutate(
        k3s_yaml(pki),
        lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": b64(b"hello world\n")}),
    )
    error = field_error(text)
    assert error.errors == {"clusters[default].cluster.certificate-authority-data": "not a PEM certificate"}


def test_ca_with_a_damaged_pem_body(pki: TlsMaterial) -> None:
    damaged = pki.ca_pem.replace(pki.ca_pem.splitlines()[2], b"A" * 64)
    text = mutate(
        k3s_yaml(pki),
        lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": b64(damaged)}),
    )
    error = field_error(text)
    assert "certificate-authority-data" in next(iter(error.errors))


def test_missing_server(pki: TlsMaterial) -> None:
    error = field_error(mutate(k3s_yaml(pki), lambda d: d["clusters"][0]["cluster"].pop("server")))
    assert error.errors == {"clusters[default].cluster.server": "missing"}


@pytest.mark.parametrize("server", ["ftp://10.0.0.1", "10.0.0.1:6443", "https://", "https://h:99999"])
def test_bad_server_urls(pki: TlsMaterial, server: str) -> None:
    text = mutate(k3s_yaml(pki), lambda d: d["clusters"][0]["cluster"].update({"server": server}))
    error = field_error(text)
    assert "clusters[default].cluster.server" in error.errors


def test_exec_plugin_needs_embedded_credentials(pki: TlsMaterial) -> None:
    error = field_error(multi_context(pki), context="eks-staging")
    assert "exec plugin (aws)" in error.message
    assert "PodWarden needs embedded credentials" in error.message
    assert error.errors == {"users[eks-staging].user.exec": "plugins are not supported"}


def test_auth_provider_plugin_is_refused(pki: TlsMaterial) -> None:
    text = mutate(
        token_kubeconfig(pki),
        lambda d: d["users"][0].update({"user": {"auth-provider": {"name": "oidc", "config": {}}}}),
    )
    error = field_error(text)
    assert "auth-provider plugin (oidc)" in error.message


def test_file_path_for_the_ca_cannot_be_stored(pki: TlsMaterial) -> None:
    def to_file(doc: dict[str, Any]) -> None:
        cluster = doc["clusters"][0]["cluster"]
        del cluster["certificate-authority-data"]
        cluster["certificate-authority"] = "/home/me/.minikube/ca.crt"

    error = field_error(mutate(k3s_yaml(pki), to_file))
    assert "/home/me/.minikube/ca.crt" in error.message
    assert "cannot keep references to files" in error.message
    assert error.errors == {
        "clusters[default].cluster.certificate-authority": "file references cannot be stored"
    }


def test_file_paths_for_client_certificate_and_token(pki: TlsMaterial) -> None:
    def client_files(doc: dict[str, Any]) -> None:
        doc["users"][0]["user"] = {"client-certificate": "client.crt", "client-key": "client.key"}

    error = field_error(mutate(k3s_yaml(pki), client_files))
    assert "users[default].user.client-certificate" in error.errors

    def token_file(doc: dict[str, Any]) -> None:
        doc["users"][0]["user"] = {"tokenFile": "/var/run/secrets/token"}

    error = field_error(mutate(k3s_yaml(pki), token_file))
    assert error.errors == {"users[default].user.tokenFile": "file references cannot be stored"}


def test_certificate_without_key_and_mismatched_key(pki: TlsMaterial) -> None:
    error = field_error(mutate(k3s_yaml(pki), lambda d: d["users"][0]["user"].pop("client-key-data")))
    assert error.errors == {"users[default].user.client-key-data": "missing"}
    other = tls_material()
    text = mutate(
        k3s_yaml(pki), lambda d: d["users"][0]["user"].update({"client-key-data": b64(other.client_key_pem)})
    )
    error = field_error(text)
    assert error.errors == {"users[default].user.client-key-data": "key does not match"}


def test_encrypted_client_key_is_refused(pki: TlsMaterial) -> None:
    key = serialization.load_pem_private_key(pki.client_key_pem, None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    text = mutate(k3s_yaml(pki), lambda d: d["users"][0]["user"].update({"client-key-data": b64(locked)}))
    assert field_error(text).errors == {"users[default].user.client-key-data": "encrypted key"}


def test_no_credentials_at_all(pki: TlsMaterial) -> None:
    text = mutate(k3s_yaml(pki), lambda d: d["users"][0].update({"user": {}}))
    error = field_error(text)
    assert "has no credentials" in error.message
    text = mutate(k3s_yaml(pki), lambda d: d["contexts"][0]["context"].pop("user"))
    assert field_error(text).errors == {"contexts[default].context.user": "missing"}


def test_ca_and_insecure_together_are_refused(pki: TlsMaterial) -> None:
    text = mutate(
        k3s_yaml(pki), lambda d: d["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": True})
    )
    assert "insecure-skip-tls-verify" in next(iter(field_error(text).errors))


def test_duplicate_context_names(pki: TlsMaterial) -> None:
    text = mutate(k3s_yaml(pki), lambda d: d["contexts"].append(d["contexts"][0]))
    assert field_error(text).errors == {"contexts[default]": "duplicate"}


def test_oversized_text() -> None:
    assert field_error("a: " + "x" * 600_000).errors == {"kubeconfig": "too long"}


# -- minimising ----------------------------------------------------------------------------------
def test_minimal_kubeconfig_keeps_one_context_and_round_trips(pki: TlsMaterial) -> None:
    original = parse_kubeconfig(multi_context(pki))
    text = minimal_kubeconfig(original)
    doc = yaml.safe_load(text)
    assert [c["name"] for c in doc["clusters"]] == ["kind-dev"]
    assert [u["name"] for u in doc["users"]] == ["kind-dev"]
    assert doc["current-context"] == "kind-dev"
    again = parse_kubeconfig(text)
    assert again.server == original.server
    assert again.ca_pem == original.ca_pem
    assert again.credentials == original.credentials
    assert again.context == original.context


def test_minimal_kubeconfig_for_another_context_drops_everything_else(pki: TlsMaterial) -> None:
    original = parse_kubeconfig(multi_context(pki))
    doc = yaml.safe_load(minimal_kubeconfig(original, "rancher-prod"))
    assert doc["contexts"] == [
        {
            "name": "rancher-prod",
            "context": {"cluster": "rancher-prod", "user": "rancher-prod", "namespace": "web"},
        }
    ]
    assert "client-certificate-data" not in yaml.safe_dump(doc)
    with pytest.raises(ValidationError):
        minimal_kubeconfig(original, "eks-staging")  # the exec plugin one


# -- rewriting the server --------------------------------------------------------------------------
def test_rewrite_server_for_a_fetched_k3s_yaml(pki: TlsMaterial) -> None:
    text = rewrite_server(k3s_yaml(pki), "100.64.12.7")
    parsed = parse_kubeconfig(text)
    assert parsed.server.url == "https://100.64.12.7:6443"
    assert parsed.credentials.methods == ("client-certificate",)
    assert parsed.tls_server_name is None


def test_rewrite_server_ipv6_and_tls_server_name(pki: TlsMaterial) -> None:
    parsed = parse_kubeconfig(rewrite_server(k3s_yaml(pki), "fd7a:115c:a1e0::1", tls_server_name="localhost"))
    assert parsed.server.url == "https://[fd7a:115c:a1e0::1]:6443"
    assert parsed.server.host == "fd7a:115c:a1e0::1"
    assert parsed.tls_server_name == "localhost"


@pytest.mark.parametrize("host", ["", "https://10.0.0.1", "a/b", "user@host"])
def test_rewrite_server_refuses_bad_hosts(pki: TlsMaterial, host: str) -> None:
    with pytest.raises(ValidationError):
        rewrite_server(k3s_yaml(pki), host)


# -- local files ---------------------------------------------------------------------------------
def write_minikube_style(folder: Path, pki: TlsMaterial) -> Path:
    """A kubeconfig that refers to files next to it, as minikube writes them."""
    (folder / "profiles").mkdir()
    (folder / "ca.crt").write_bytes(pki.ca_pem)
    (folder / "profiles" / "client.crt").write_bytes(pki.client_cert_pem)
    (folder / "profiles" / "client.key").write_bytes(pki.client_key_pem)
    (folder / "sa-token").write_text(SA_TOKEN + "\n")
    config = folder / "config"
    config.write_text(
        f"""apiVersion: v1
kind: Config
current-context: minikube
clusters:
- name: minikube
  cluster:
    server: https://192.168.49.2:8443
    certificate-authority: ca.crt
- name: lab
  cluster:
    server: https://10.1.1.1:6443
    certificate-authority-data: {b64(pki.ca_pem)}
users:
- name: minikube
  user:
    client-certificate: profiles/client.crt
    client-key: {folder / "profiles" / "client.key"}
- name: lab-sa
  user:
    tokenFile: sa-token
- name: broken
  user:
    client-certificate: missing.crt
    client-key: missing.key
contexts:
- name: minikube
  context: {{cluster: minikube, user: minikube, namespace: default}}
- name: lab
  context: {{cluster: lab, user: lab-sa}}
- name: broken
  context: {{cluster: lab, user: broken}}
"""
    )
    return config


def test_load_kubeconfig_file_inlines_referenced_files(tmp_path: Path, pki: TlsMaterial) -> None:
    config = write_minikube_style(tmp_path, pki)
    parsed = load_kubeconfig_file(config)
    assert parsed.context.name == "minikube"
    assert parsed.ca_pem == pki.ca_pem.decode()
    assert parsed.credentials.methods == ("client-certificate",)
    stored = minimal_kubeconfig(parsed)
    assert "ca.crt" not in stored and "client-key-data" in stored
    assert parse_kubeconfig(stored).credentials == parsed.credentials

    lab = load_kubeconfig_file(config, "lab")
    assert lab.credentials.token == SecretValue(SA_TOKEN)


def test_contexts_from_file_say_which_are_usable(tmp_path: Path, pki: TlsMaterial) -> None:
    choices = {c.name: c for c in contexts_from_file(write_minikube_style(tmp_path, pki))}
    assert list(choices) == ["minikube", "lab", "broken"]
    assert choices["minikube"].current and choices["minikube"].problem is None
    assert choices["minikube"].server == "https://192.168.49.2:8443"
    assert choices["lab"].problem is None
    assert choices["broken"].problem is not None and "cannot be read" in choices["broken"].problem
    assert choices["broken"].server is None


def test_missing_kubeconfig_file_and_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFoundError):
        contexts_from_file(tmp_path / "nope")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'first'}:{tmp_path / 'second'}")
    assert default_kubeconfig_path() == tmp_path / "first"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_kubeconfig_path() == tmp_path / ".kube" / "config"
