#!/usr/bin/python3
"""testdata/git/http_backend.py: git's smart HTTP on loopback, for the e2e tests.

    http_backend.py ROOT PORTFILE LOG [--auth PREFIX USER:PASSWORD]

Serves every repository under ROOT through `git http-backend` (as CGI) on 127.0.0.1, on a
free port written to PORTFILE once it listens.  LOG gets one line per request:
"METHOD PATH [command=...]" (the protocol v2 command of an upload-pack POST, e.g. ls-refs or
fetch; "want" for a protocol v0 fetch), so a test can tell a ref lookup from a fetch.

With --auth, paths under PREFIX (e.g. /private/) need HTTP Basic auth as USER:PASSWORD (or
"Bearer PASSWORD"); others answer 401 with a Basic challenge.  Every log line then starts
with "auth=ok ", "auth=bad " or "auth=none " (whether the request carried the right
Authorization; never its value).
"""
import base64
import gzip
import http.server
import os
import re
import subprocess
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                n = int(self.rfile.readline().strip().split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def auth(self):
        """ "ok", "bad" or "none": the request's Authorization against --auth."""
        h = self.headers.get("Authorization")
        if h is None:
            return "none"
        scheme, _, val = h.strip().partition(" ")
        user, _, pw = AUTH.partition(":")
        if scheme.lower() == "bearer" and val.strip() == pw:
            return "ok"
        if scheme.lower() == "basic":
            try:
                if base64.b64decode(val.strip(), validate=True).decode() == AUTH:
                    return "ok"
            except ValueError:
                pass
        return "bad"

    def run(self, method):
        path, _, query = self.path.partition("?")
        data = self.body() if method == "POST" else b""
        mark = ""
        if PREFIX is not None:
            state = self.auth()
            mark = "auth=%s " % state
            if path.startswith(PREFIX) and state != "ok":
                with open(LOG, "a") as f:
                    f.write("%s%s %s 401\n" % (mark, method, path))
                body = b"authentication required\n"
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        plain = data
        if self.headers.get("Content-Encoding", "") == "gzip":
            plain = gzip.decompress(data)
        what = ""
        if b"command=" in plain:
            what = " " + re.match(rb"[a-z-]*", plain.split(b"command=")[1]).group().decode()
        elif b"want " in plain:
            what = " want"
        with open(LOG, "a") as f:
            f.write("%s%s %s%s\n" % (mark, method, path, what))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": ROOT,
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(data)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        p = subprocess.run(["git", "http-backend"], input=data, env=env, capture_output=True)
        head, _, out = p.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, out = p.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        self.run("GET")

    def do_POST(self):
        self.run("POST")


ROOT, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
PREFIX, AUTH = None, ""
if len(sys.argv) == 7 and sys.argv[4] == "--auth":
    PREFIX, AUTH = sys.argv[5], sys.argv[6]
elif len(sys.argv) != 4:
    sys.exit("usage: http_backend.py ROOT PORTFILE LOG [--auth PREFIX USER:PASSWORD]")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
