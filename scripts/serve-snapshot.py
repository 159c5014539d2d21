#!/usr/bin/env python3
"""Serves a cluster snapshot (a `kubectl get ... -o json` List) as a read-only Kubernetes list
API on loopback, paged with `limit`/`continue` as the API server pages, so that
`podsec audit --kubeconfig` can be tried and measured without a cluster. It answers GET list
requests only (`/api/v1/pods`, `/apis/apps/v1/deployments`, ...); everything else is 404.
It is a stand-in for benchmarks and demos, not an API server.

    scripts/serve-snapshot.py SNAPSHOT.json KUBECONFIG_OUT [PORT]

Writes a kubeconfig pointing at it to KUBECONFIG_OUT, prints "ready" when serving, and serves
until killed. Pages are serialized up front, so serving costs little CPU.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SNAPSHOT, KUBECONFIG = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 0
PAGE = 500


def plural(kind):
    kind = kind.lower()
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def main():
    with open(SNAPSHOT) as f:
        items = json.load(f)["items"]
    lists = {}
    for o in items:
        api_version = o.pop("apiVersion", "")
        kind = o.pop("kind", "")
        prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        lists.setdefault(f"{prefix}/{plural(kind)}", []).append(o)
    del items
    pages = {}
    for path, objects in lists.items():
        count = (len(objects) + PAGE - 1) // PAGE
        for n in range(count):
            token = str(n + 1) if n + 1 < count else ""
            body = {"kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1", "continue": token},
                    "items": objects[n * PAGE:(n + 1) * PAGE]}
            pages[(path, str(n) if n else "")] = json.dumps(body, separators=(",", ":")).encode()
    del lists
    not_found = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "reason": "NotFound", "code": 404}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            url = urlsplit(self.path)
            token = parse_qs(url.query).get("continue", [""])[0]
            body = pages.get((url.path, token))
            status = 200 if body is not None else 404
            body = body if body is not None else not_found
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    port = server.server_address[1]
    with open(KUBECONFIG, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: snapshot, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: reader, user: {{token: read-only}}}}]
contexts: [{{name: snapshot, context: {{cluster: snapshot, user: reader}}}}]
current-context: snapshot
""")
    print("ready", flush=True)
    server.serve_forever()


main()
