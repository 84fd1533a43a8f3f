#!/usr/bin/python3
"""A misbehaving registry for the client's failure tests.

    fault_server.py PORT PORT2 LAYOUT_DIR LOG USER:PASS

Serves the one image of the OCI layout LAYOUT_DIR (from its index.json) under
every repository name; the first path component of the name picks a fault:

  ok          behaves
  wrongdigest layer blobs (> 4 KiB) come back with one byte changed
  truncate    layer blob bodies stop halfway (Content-Length says more), every time
  resume      the first layer blob answer stops halfway; Range requests get 206
  flaky       the first request of each path gets 500, then it works
  ratelimit   the first request of each path gets 429 with Retry-After: 1
  redirect    blob GETs are redirected to PORT2 (another origin)
  stall       layer blob bodies send a few bytes, then nothing for 120 s

Every request needs Basic USER:PASS (else 401 with a Basic challenge), except
on PORT2.  LOG gets one line per request: "PORT METHOD PATH auth=yes|no".
"""
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, port2, layout, log_path, userpass = sys.argv[1:6]
blobs = os.path.join(layout, "blobs", "sha256")
with open(os.path.join(layout, "index.json")) as f:
    top = json.load(f)["manifests"][0]
lock = threading.Lock()
seen = {}


def blob(digest):
    with open(os.path.join(blobs, digest.split(":")[1]), "rb") as f:
        return f.read()


def first_time(key):
    with lock:
        n = seen.get(key, 0)
        seen[key] = n + 1
        return n == 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log(self):
        with lock, open(log_path, "a") as f:
            auth = "yes" if self.headers.get("Authorization") else "no"
            f.write("%d %s %s auth=%s\n" % (self.server.server_port, self.command, self.path, auth))

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.log()
        path = self.path.split("?")[0]
        if self.server.server_port == int(port2):
            data = blob(path.rsplit("/", 1)[1])
            self.reply(200, data, [("Content-Type", "application/octet-stream")])
            return
        want = "Basic " + base64.b64encode(userpass.encode()).decode()
        if self.headers.get("Authorization") != want:
            self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                       [("WWW-Authenticate", 'Basic realm="fault"'), ("Content-Type", "application/json")])
            return
        if path == "/v2/":
            self.reply(200, b"{}")
            return
        parts = path.split("/")
        mode = parts[2] if len(parts) > 4 else "ok"
        if mode in ("flaky", "ratelimit") and first_time(self.command + path):
            if mode == "flaky":
                self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"try again"}]}')
            else:
                self.reply(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
                           [("Retry-After", "1")])
            return
        if "/manifests/" in path:
            body = blob(top["digest"])
            self.reply(200, body, [("Content-Type", top["mediaType"]),
                                   ("Docker-Content-Digest", top["digest"])])
            return
        if "/blobs/" not in path:
            self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')
            return
        digest = path.rsplit("/", 1)[1]
        try:
            data = blob(digest)
        except OSError:
            self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}')
            return
        if mode == "redirect" and self.command == "GET":
            self.reply(307, b"", [("Location", "http://127.0.0.1:%s/blobs/%s" % (port2, digest))])
            return
        if mode == "wrongdigest" and len(data) > 4096:
            data = data[:50] + bytes([data[50] ^ 1]) + data[51:]
        rng = self.headers.get("Range")
        if mode == "resume" and rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        big = len(data) > 4096  # layers, not the config
        cut = big and (mode == "truncate" or (mode == "resume" and first_time("cut" + path)))
        if cut or (big and mode == "stall"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if self.command == "HEAD":
                return
            self.wfile.write(data[: len(data) // 2] if cut else data[:10])
            self.wfile.flush()
            if mode == "stall":
                time.sleep(120)
            self.close_connection = True
            return
        self.reply(200, data, [("Content-Type", "application/octet-stream")])


for p in (port, port2):
    srv = ThreadingHTTPServer(("127.0.0.1", int(p)), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
threading.Event().wait()
