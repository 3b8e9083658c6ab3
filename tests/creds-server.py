#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs tests: stand-ins for the AWS credential services, and a checking
# forwarder in front of the real S3 server.
#
#   creds-server.py DIR S3_ORIGIN ACCESS_KEY SECRET_KEY LIFETIME TOKEN_TTL [LIE]
#
# The EC2 metadata service, the container endpoint and STS cannot run
# here, so this speaks their documented protocols on 127.0.0.1 (port in
# DIR/creds.port), handing out credentials that live LIFETIME seconds:
#
#   PUT  /latest/api/token             IMDSv2 session token; TTL is the
#        X-aws-ec2-metadata-token-ttl-seconds asked for, capped at
#        TOKEN_TTL and echoed in the answer's header, as IMDS does
#   GET  /latest/meta-data/iam/security-credentials/[ROLE]
#        with X-aws-ec2-metadata-token (401 if missing or lapsed)
#   GET  /container/creds              container endpoint; needs
#        "Authorization: container-auth" (DIR/container-auth holds it)
#   GET  /federation/credentials?account_id=A&role_name=R
#        the SSO portal's GetRoleCredentials; needs the header
#        x-amz-sso_bearer_token: DIR/sso-token's contents (else 401),
#        A 111122223333 and R zerofs-role (else 403; A 999999999999:
#        a 200 whose roleCredentials are not an object)
#   POST /                             STS: AssumeRoleWithWebIdentity
#        (WebIdentityToken must be DIR/web-token's contents) and
#        AssumeRole (SigV4 header checked in full, signed by SOURCEKEY /
#        source-secret, or by credentials this process issued, with
#        their session token: the log says which)
#
# What they hand out is ACCESS_KEY / SECRET_KEY (the S3 server's own
# test pair: s3rver accepts only its key, Swift checks signatures
# against its tempauth user) with a new session token each time.
# Neither S3 server knows session tokens (Swift's s3api signs the
# x-amz-security-token header like any other, and ignores its value), so
# the forwarder (port in DIR/s3.port) checks them: every request to S3
# must carry a token this process issued, not yet expired, with the
# access key it was issued with; else it answers as S3 does (400
# ExpiredToken, 403 InvalidToken) without forwarding.  Other requests
# are forwarded byte for byte to S3_ORIGIN ("http://127.0.0.1:PORT").
#
# LIE (default 0) seconds are added to the Expiration that the services
# announce, but not to the real one the forwarder enforces: the client
# then meets ExpiredToken from S3, as after a revocation or clock skew.
#
# While DIR/down exists, every credential service answers 503.
# DIR/creds.log gets one line per event: "issue KIND TOKEN EXPIRES",
# "imds-token TTL", "imds-401", "sso A R", "sso-401", "assume-role by SOURCEKEY|KIND" (whose
# credentials signed an AssumeRole: KIND is the issuer of the signing
# session token), "s3 ok|expired|unknown METHOD TOKEN KIND" (KIND: the
# issuer of TOKEN, or "-").
import hashlib
import hmac
import http.client
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

d, s3_origin, access_key, secret_key = sys.argv[1:5]
lifetime = int(sys.argv[5])
token_cap = int(sys.argv[6])
lie = int(sys.argv[7]) if len(sys.argv) > 7 else 0
s3_host = urllib.parse.urlsplit(s3_origin).netloc
SOURCE_KEY, SOURCE_SECRET = "SOURCEKEY", "source-secret"
lock = threading.Lock()
tokens = {}          # session token -> (expiry (time.time()), KIND)
imds_tokens = {}     # IMDS session token -> expiry
log_fp = open(os.path.join(d, "creds.log"), "a", buffering=1)


def log(*words):
    with lock:
        log_fp.write(" ".join(str(w) for w in words) + "\n")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def issue(kind):
    token = "tok-" + secrets.token_hex(8)
    exp = int(time.time()) + lifetime
    with lock:
        tokens[token] = (exp, kind)
    log("issue", kind, token, exp)
    return token, exp + lie


def read(name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", ctype="text/plain", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""


class CredsHandler(Handler):
    def down(self):
        if os.path.exists(os.path.join(d, "down")):
            self.body()
            self.answer(503, "down for the test")
            return True
        return False

    def do_PUT(self):
        if self.down():
            return
        self.body()
        if self.path != "/latest/api/token":
            return self.answer(404)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.answer(400)
        ttl = min(int(ttl), token_cap)
        tok = "imds-" + secrets.token_hex(8)
        with lock:
            imds_tokens[tok] = time.time() + ttl
        log("imds-token", ttl)
        self.answer(200, tok,
                    headers=[("X-aws-ec2-metadata-token-ttl-seconds",
                              str(ttl))])

    def do_GET(self):
        if self.down():
            return
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path.startswith(base):
            tok = self.headers.get("X-aws-ec2-metadata-token")
            with lock:
                good = tok in imds_tokens and imds_tokens[tok] > time.time()
            if not good:
                log("imds-401")
                return self.answer(401)
            if self.path == base:
                return self.answer(200, "test-role")
            if self.path != base + "test-role":
                return self.answer(404)
            token, exp = issue("imds")
            return self.answer(200, json.dumps({
                "Code": "Success", "LastUpdated": iso(time.time()),
                "Type": "AWS-HMAC", "AccessKeyId": access_key,
                "SecretAccessKey": secret_key, "Token": token,
                "Expiration": iso(exp)}), "application/json")
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/federation/credentials":
            q = urllib.parse.parse_qs(url.query)
            tok = self.headers.get("x-amz-sso_bearer_token")
            if tok != read("sso-token"):
                log("sso-401")
                return self.answer(401, '{"message":"Session token not '
                                   'found or invalid"}', "application/json")
            account = q.get("account_id", [""])[0]
            role = q.get("role_name", [""])[0]
            log("sso", account, role)
            if account == "999999999999":
                return self.answer(200, '{"roleCredentials": []}',
                                   "application/json")
            if account != "111122223333" or role != "zerofs-role":
                return self.answer(403, '{"message":"No access"}',
                                   "application/json")
            token, exp = issue("sso")
            return self.answer(200, json.dumps({"roleCredentials": {
                "accessKeyId": access_key, "secretAccessKey": secret_key,
                "sessionToken": token, "expiration": exp * 1000}}),
                "application/json")
        if self.path == "/container/creds":
            if self.headers.get("Authorization") != read("container-auth"):
                return self.answer(403, '{"code":"AccessDenied"}',
                                   "application/json")
            token, exp = issue("container")
            return self.answer(200, json.dumps({
                "AccessKeyId": access_key, "SecretAccessKey": secret_key,
                "Token": token, "Expiration": iso(exp),
                "RoleArn": "arn:aws:iam::1:role/x"}), "application/json")
        self.answer(404)

    def sts_error(self, status, code, msg):
        self.answer(status, "<ErrorResponse xmlns=\"https://sts.amazonaws."
                    "com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>"
                    f"{code}</Code><Message>{msg}</Message></Error>"
                    "<RequestId>1</RequestId></ErrorResponse>", "text/xml")

    def signer(self, key, signed):
        # The secret of KEY and who issued it, or (None, why).
        if key == SOURCE_KEY:
            return SOURCE_SECRET, SOURCE_KEY
        if key != access_key:
            return None, "unknown access key " + key
        token = self.headers.get("x-amz-security-token")
        with lock:
            exp, kind = tokens.get(token, (0, None))
        if kind is None or "x-amz-security-token" not in signed:
            return None, "no signed session token issued here"
        if time.time() >= exp:
            return None, "the signing session token has expired"
        return secret_key, kind

    def check_sigv4(self, body):
        # The SigV4 header of an AssumeRole, checked in full: (None, who
        # signed it) or (why not, None).
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization", None
        parts = dict(p.strip().split("=", 1)
                     for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        key, date, region, service, term = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        secret, who = self.signer(key, signed)
        if secret is None:
            return who, None
        if service != "sts" or term != "aws4_request":
            return "wrong credential scope " + parts["Credential"], None
        canon = "POST\n/\n\n" + "".join(
            f"{h}:{' '.join(self.headers.get(h, '').split())}\n"
            for h in signed) + "\n" + parts["SignedHeaders"] + "\n" + \
            hashlib.sha256(body).hexdigest()
        amz_date = self.headers.get("x-amz-date", "")
        sts = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + \
            f"{date}/{region}/{service}/aws4_request\n" + \
            hashlib.sha256(canon.encode()).hexdigest()
        k = ("AWS4" + secret).encode()
        for m in (date, region, service, "aws4_request"):
            k = hmac.new(k, m.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if sig != parts["Signature"]:
            return "signature does not match", None
        return None, who

    def do_POST(self):
        if self.down():
            return
        body = self.body()
        if self.path != "/":
            return self.answer(404)
        q = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        action = q.get("Action", [""])[0]
        if q.get("Version", [""])[0] != "2011-06-15":
            return self.sts_error(400, "InvalidAction", "bad Version")
        if action == "AssumeRoleWithWebIdentity":
            if q.get("WebIdentityToken", [""])[0] != read("web-token"):
                return self.sts_error(400, "InvalidIdentityToken", "bad")
            kind = "web-identity"
        elif action == "AssumeRole":
            why, who = self.check_sigv4(body)
            if why:
                log("assume-role refused:", why)
                return self.sts_error(403, "SignatureDoesNotMatch", why)
            log("assume-role by", who)
            kind = "assume-role"
        else:
            return self.sts_error(400, "InvalidAction", action)
        if not q.get("RoleArn") or not q.get("RoleSessionName"):
            return self.sts_error(400, "MissingParameter", "RoleArn")
        token, exp = issue(kind)
        self.answer(200, f"<{action}Response xmlns=\"https://sts.amazonaws."
                    f"com/doc/2011-06-15/\"><{action}Result><Credentials>"
                    f"<AccessKeyId>{access_key}</AccessKeyId>"
                    f"<SecretAccessKey>{secret_key}</SecretAccessKey>"
                    f"<SessionToken>{token}</SessionToken>"
                    f"<Expiration>{iso(exp)}</Expiration></Credentials>"
                    f"</{action}Result><ResponseMetadata><RequestId>1"
                    f"</RequestId></ResponseMetadata></{action}Response>",
                    "text/xml")


class S3Forwarder(Handler):
    def s3_error(self, status, code):
        self.answer(status, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                    f"<Error><Code>{code}</Code><Message>{code} (checked by "
                    "creds-server.py)</Message></Error>", "application/xml")

    def forward(self):
        body = self.body()
        token = self.headers.get("x-amz-security-token")
        auth = self.headers.get("Authorization", "")
        now = time.time()
        with lock:
            exp, kind = tokens.get(token, (None, "-"))
        if exp is None or f"Credential={access_key}/" not in auth:
            log("s3", "unknown", self.command, token, kind)
            return self.s3_error(403, "InvalidToken")
        if now >= exp:
            log("s3", "expired", self.command, token, kind)
            return self.s3_error(400, "ExpiredToken")
        log("s3", "ok", self.command, token, kind)
        conn = http.client.HTTPConnection(s3_host, timeout=60)
        headers = {k: v for k, v in self.headers.items()}
        conn.putrequest(self.command, self.path, skip_host=True,
                        skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        conn.endheaders(body if body or self.command in ("PUT", "POST")
                        else None)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length",
                                 "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length",
                         r.getheader("Content-Length", str(len(data)))
                         if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()
        del headers

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


def serve(handler, port_file):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    with open(os.path.join(d, port_file + ".tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(d, port_file + ".tmp"),
              os.path.join(d, port_file))
    srv.serve_forever()


threading.Thread(target=serve, args=(S3Forwarder, "s3.port"),
                 daemon=True).start()
serve(CredsHandler, "creds.port")
