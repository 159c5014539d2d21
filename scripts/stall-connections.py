#!/usr/bin/env python3
"""Holds many stalled TLS connections open against a local `podsec serve` and reports the
server's peak RSS while a good review is answered meanwhile. Loopback only, bounded.

    scripts/stall-connections.py PORT SERVER_PID [CONNECTIONS] [SECONDS]

Each connection completes its TLS handshake and then sends half a request line, as a client
that stalls would. Past --max-connections the server closes the quietest connections to make
room; the report says how many are still open at the end. Nothing is re-opened.
"""
import json
import os
import resource
import socket
import ssl
import sys
import time
import urllib.request

PORT = int(sys.argv[1])
PID = int(sys.argv[2])
COUNT = int(sys.argv[3]) if len(sys.argv) > 3 else 8000
SECONDS = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
HOST = "127.0.0.1"

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, COUNT + 256), hard))


def rss_kib(field):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE

held, refused = [], 0
start = time.time()
for i in range(COUNT):
    try:
        raw = socket.create_connection((HOST, PORT), timeout=5)
        tls = context.wrap_socket(raw, server_hostname="localhost")
        tls.send(b"POST /validate HTTP/1.1\r\nHost: loc")
        held.append(tls)
    except (OSError, ssl.SSLError):
        refused += 1
opened = time.time() - start

review = {
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
        "uid": "stall-check", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "default", "operation": "CREATE", "name": "p",
        "userInfo": {"username": "u"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": "x"}]}},
    },
}
answered = []
deadline = time.time() + SECONDS
while time.time() < deadline:
    t = time.time()
    try:
        req = urllib.request.Request(
            f"https://{HOST}:{PORT}/validate", data=json.dumps(review).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=context, timeout=5) as r:
            ok = json.load(r)["response"]["uid"] == "stall-check"
        answered.append((ok, (time.time() - t) * 1000))
    except OSError as e:
        answered.append((False, str(e)))
    time.sleep(0.2)

still_open = 0
for s in held:
    try:
        s.setblocking(False)
        if s.recv(1) == b"":
            continue
        still_open += 1
    except (BlockingIOError, ssl.SSLWantReadError):
        still_open += 1
    except OSError:
        pass
print(json.dumps({
    "attempted": COUNT, "held_after_handshake": len(held), "refused_or_failed": refused,
    "opened_in_s": round(opened, 2), "still_open_at_end": still_open,
    "good_reviews": len(answered), "good_reviews_ok": sum(1 for a in answered if a[0] is True),
    "good_review_ms_max": max((a[1] for a in answered if a[0] is True), default=None),
    "server_rss_now_kib": rss_kib("VmRSS:"), "server_peak_rss_kib": rss_kib("VmHWM:"),
}))
for s in held:
    s.close()
