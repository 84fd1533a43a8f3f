#!/usr/bin/python3
"""A Docker-Hub-style token server for tests (run with Debian's /usr/bin/python3).

    token_server.py PORT KEY.pem CERT.pem SERVICE ISSUER USER:PASS

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] with optional
Basic credentials answers {"token", "access_token", "expires_in", "issued_at"}:
an RS256 JWT with aud=SERVICE (one string), iss=ISSUER, an x5c header holding
CERT, and an access claim.  Anonymous users get pull only (as on Docker Hub);
USER:PASS gets pull and push; wrong credentials get 401.  Every request is
logged to stderr without secrets.
"""
import base64
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

port, key_path, cert_path, service, issuer, userpass = sys.argv[1:7]
with open(key_path, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
with open(cert_path, "rb") as f:
    cert = x509.load_pem_x509_certificate(f.read())
x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("token: " + (fmt % args) + "\n")

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        if url.path != "/token" or q.get("service", [""])[0] != service:
            self.send_error(400, "bad request")
            return
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            if base64.b64decode(auth[6:]).decode() != userpass:
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"details":"incorrect username or password"}')
                return
            user = userpass.split(":")[0]
        access = []
        for scope in q.get("scope", []):
            for part in scope.split(" "):
                bits = part.split(":")
                if len(bits) < 3 or bits[0] != "repository":
                    continue
                name, actions = ":".join(bits[1:-1]), bits[-1].split(",")
                allowed = ["pull", "push"] if user else ["pull"]
                access.append({"type": "repository", "name": name,
                               "actions": [a for a in actions if a in allowed]})
        now = int(time.time())
        claims = {"iss": issuer, "sub": user or "", "aud": service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": x5c})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
