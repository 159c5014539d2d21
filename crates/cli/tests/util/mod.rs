//! Shared helpers for the CLI tests: run the real `podsec` binary, and make real manifests
//! with the real `kubectl`.

#![allow(dead_code)]
// Test support: a failed expectation here is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `podsec ARGS` with `stdin` on its standard input.
pub fn podsec(args: &[&str], stdin: &[u8]) -> Run {
    podsec_with(args, stdin, &[])
}

/// Runs `podsec ARGS` with these environment variables (and empty stdin).
pub fn podsec_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    podsec_with(args, b"", env)
}

fn podsec_with(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_podsec"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start podsec");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("podsec runs");
    writer.join().expect("stdin writer");
    finish(out)
}

/// Runs the real `kubectl`. The machine has it (the brief promises 1.27–1.33); a test that
/// needs it fails loudly if it is gone.
pub fn kubectl(args: &[&str], kubeconfig: Option<&Path>) -> String {
    let mut cmd = Command::new("kubectl");
    cmd.args(args);
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd
        .output()
        .expect("kubectl must be installed to run this test");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl prints UTF-8")
}

/// Answers HTTP/1.1 requests on loopback with `respond(method, path)` → (status, JSON body),
/// one request per connection. Returns the port.
fn serve_loopback(respond: impl Fn(&str, &str) -> (&'static str, String) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or("");
            let path = parts.next().unwrap_or("/").split('?').next().unwrap_or("/");
            let (status, body) = respond(method, path);
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A kubeconfig for a server on loopback `port`, in a new temporary directory.
fn loopback_kubeconfig(port: u16, user: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: stub, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]\n\
             users: [{{name: stub, user: {user}}}]\ncontexts: [{{name: stub, context: {{cluster: stub, user: stub}}}}]\n\
             current-context: stub\n"
        ),
    )
    .expect("write kubeconfig");
    (dir, kubeconfig)
}

/// `kubectl run --dry-run=client` renders locally but still asks the server for API
/// discovery. This answers those three discovery requests (and nothing else) on loopback, so
/// the real kubectl can print its real Pod with no cluster. It is a discovery stub, not an
/// API server: nothing is created anywhere.
pub fn kubectl_run(args: &[&str]) -> String {
    let port = serve_loopback(|_, path| {
        let body = match path {
            "/api" => {
                r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#
            }
            "/apis" => r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#,
            "/api/v1" => {
                r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["create","get","list"]}]}"#
            }
            _ => "",
        };
        let status = if body.is_empty() {
            "404 Not Found"
        } else {
            "200 OK"
        };
        (status, body.to_string())
    });
    let (_dir, kubeconfig) = loopback_kubeconfig(port, "{}");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    kubectl(&all, Some(&kubeconfig))
}

/// An API-server stand-in for reading tests: answers `GET` list requests
/// (`/api/v1/pods`, `/apis/apps/v1/deployments`, …) with the given objects, as the API server
/// lists them (items without `apiVersion`/`kind`), and 404 for everything else. Nothing can be
/// written; a GET of `failing` answers 500. Returns the kubeconfig pointing at it (kept alive
/// by the returned directory).
pub fn list_stub(
    objects: Vec<serde_json::Value>,
    failing: Option<&'static str>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let mut lists: std::collections::HashMap<String, Vec<serde_json::Value>> =
        std::collections::HashMap::new();
    for mut o in objects {
        let api_version = o["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = o["kind"].as_str().unwrap_or("").to_ascii_lowercase();
        let plural = match kind.strip_suffix('y') {
            Some(stem) => format!("{stem}ies"),
            None => format!("{kind}s"),
        };
        let prefix = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        if let Some(map) = o.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
        lists
            .entry(format!("{prefix}/{plural}"))
            .or_default()
            .push(o);
    }
    let status = |code: u16, reason: &str, message: &str| {
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": message, "reason": reason, "code": code})
        .to_string()
    };
    let port = serve_loopback(move |method, path| match lists.get(path) {
        _ if Some(path) == failing => (
            "500 Internal Server Error",
            status(500, "InternalError", "etcd is on fire"),
        ),
        Some(items) if method == "GET" => (
            "200 OK",
            serde_json::json!({"kind": "List", "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"}, "items": items})
            .to_string(),
        ),
        _ => ("404 Not Found", status(404, "NotFound", "not found")),
    });
    loopback_kubeconfig(port, "{token: read-only}")
}
