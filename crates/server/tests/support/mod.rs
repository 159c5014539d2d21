//! Shared pieces of the end-to-end tests: certificates on disk, a real server on a loopback
//! port, and a real HTTPS client (hyper over tokio-rustls, keep-alive connections).

#![allow(dead_code)]
#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failed expectation is a failed test

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use podsec_server::{RunningServer, ServeOptions, StateOptions, TlsOptions};
use serde_json::{json, Value};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA and a serving certificate for localhost, written to a temporary directory.
pub fn certs() -> Certs {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated =
        podsec_server::self_signed(&["localhost".into(), "127.0.0.1".into()]).expect("certs");
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, &generated.cert_pem).expect("write cert");
    std::fs::write(&key, &generated.key_pem).expect("write key");
    Certs {
        dir,
        ca_pem: generated.ca_pem,
        cert,
        key,
    }
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// The seed scenario's namespaces: `default` enforces restricted, `dmz` privileged.
pub const SEED_NAMESPACES: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: dmz\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n";

pub fn options(certs: &Certs, state: &Path, config: Option<PathBuf>) -> ServeOptions {
    ServeOptions {
        bind: "127.0.0.1:0".parse().expect("addr"),
        tls: TlsOptions::Files {
            cert: certs.cert.clone(),
            key: certs.key.clone(),
        },
        config,
        state: StateOptions::Dir(state.to_path_buf()),
        admission: podsec_admission::Options::default(),
        reload_interval: Duration::from_millis(100),
        null_endpoint: true,
        psp_state: None,
        limits: podsec_server::Limits::default(),
        constraints: Vec::new(),
        constraint_engine: Default::default(),
        constraints_from_api: false,
        clock: None,
    }
}

pub async fn start(opts: ServeOptions) -> RunningServer {
    podsec_server::start(opts).await.expect("server starts")
}

/// One keep-alive HTTPS/1.1 connection to the server.
pub struct Client {
    sender: http1::SendRequest<Full<Bytes>>,
    pub peer_certificate: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn tls_connector(ca_pem: &str) -> TlsConnector {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("add root");
    }
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

impl Client {
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> std::io::Result<Client> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = tls_connector(ca_pem)
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await?;
        let peer_certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (sender, connection) = http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Client {
            sender,
            peer_certificate,
        })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let request = builder.body(Full::new(Bytes::from(body))).expect("request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub async fn review(&mut self, path: &str, review: &Value) -> Reply {
        self.request(
            "POST",
            path,
            Some("application/json"),
            serde_json::to_vec(review).expect("json"),
        )
        .await
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path, None, Vec::new()).await
    }
}

pub fn nginx_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"run": name}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"}})
}

/// An AdmissionReview as kube-apiserver sends it.
#[allow(clippy::too_many_arguments)] // one argument per request field
pub fn review(
    uid: &str,
    resource: (&str, &str, &str),
    kind: &str,
    operation: &str,
    namespace: &str,
    name: &str,
    user: &str,
    object: Value,
    old: Option<Value>,
) -> Value {
    let (group, version, res) = resource;
    let mut request = json!({
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": res},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": res},
        "name": name,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": user, "uid": "u-1", "groups": ["system:authenticated"]},
        "object": object,
        "oldObject": null,
        "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    });
    if let Some(old) = old {
        request["oldObject"] = old;
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

pub fn pod_review(uid: &str, namespace: &str, user: &str, pod: Value) -> Value {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    review(
        uid,
        ("", "v1", "pods"),
        "Pod",
        "CREATE",
        namespace,
        &name,
        user,
        pod,
        None,
    )
}

/// Applies an RFC 6902 patch with the json-patch crate (an implementation independent of
/// podsec's).
pub fn apply(pod: &Value, patch: &Value) -> Value {
    let mut doc = pod.clone();
    let patch: json_patch::Patch =
        serde_json::from_value(patch.clone()).expect("an RFC 6902 patch");
    json_patch::patch(&mut doc, &patch).expect("the patch applies");
    doc
}

/// The JSON patch of an AdmissionReview response, if any.
pub fn decode_patch(response: &Value) -> Option<Value> {
    let b64 = response["patch"].as_str()?;
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64_decode(b64);
    Some(serde_json::from_slice(&bytes).expect("patch JSON"))
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|c| *c != b'=').collect();
        let n = data
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (val(*c) << (18 - 6 * i)));
        for i in 0..data.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
