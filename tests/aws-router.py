#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
#
# zerofs tests: a stand-in for AWS S3's request routing, in front of a
# real S3 server (s3rver or Swift's s3api), which does the storing.
#
#   aws-router.py BACKEND_PORT REGION MODE REDIRECT_EVERY PORT_FILE LOG
#
# There is no AWS here, and what AWS does with a request signed for the
# wrong region, or sent while a new bucket's DNS name spreads, is routing
# that no S3 server on loopback imitates.  This forwarder does only that:
#
#   - A request whose Authorization header's credential scope names
#     another region than REGION is refused the way AWS refuses it,
#     according to MODE:
#       301       301 PermanentRedirect, with x-amz-bucket-region: REGION
#                 and an <Error> body naming the endpoint (no body for a
#                 HEAD), as AWS answers a request to the wrong region
#       301-bare  301 PermanentRedirect with neither the header nor a
#                 <Region>: only a HeadBucket (HEAD of the bucket) gets
#                 the x-amz-bucket-region header
#       400       400 AuthorizationHeaderMalformed with <Region>REGION
#                 and AWS's message ("the region 'us-east-1' is wrong;
#                 expecting 'REGION'")
#   - MODE 404-page: a GET of a chunk object (a key with /chunks/ in
#     it) is answered 404 with an HTML page, as a proxy in the way or a
#     wrong endpoint answers: not S3's NoSuchKey, so not an answer that
#     the object is absent.
#   - MODE late-put: the first PUT whose path contains $LATE_PUT_KEY is
#     held once its body is here whole, until the file $LATE_PUT_RELEASE
#     exists and $LATE_PUT_SECONDS more have passed; then it goes to the
#     server whether its client is still there or not, as S3 may apply
#     a PUT it had whole after its client died.  The log gets "held"
#     and "landed" lines for it.
#   - A request whose body does not arrive whole (its client died) is
#     dropped, as S3 drops it: never sent on with what did arrive.
#   - Every REDIRECT_EVERY-th request that is signed right (0: none) gets
#     307 TemporaryRedirect, Location: the same path on the second port
#     of this forwarder, which serves like the first but never
#     redirects.  The second port refuses (400) a request whose Host
#     header is not its own: a redirected request must be signed for the
#     host it goes to.
#   - Everything else goes to 127.0.0.1:BACKEND_PORT as it came (Host
#     header included, so that a server that checks signatures checks
#     the client's), and the answer comes back.
#
# Listens on two ports of 127.0.0.1 that the kernel picks, written to
# PORT_FILE as "MAIN REDIRECT" once it serves.  LOG gets one line per
# request: "PORT-NAME STATUS METHOD PATH REGION" (PORT-NAME is "main" or
# "redirect"; STATUS is what this forwarder answered itself, or "fwd").
# Runs until killed.  Standard library only.
import http.client
import http.server
import os
import re
import sys
import threading
import time

backend_port = int(sys.argv[1])
region = sys.argv[2]
mode = sys.argv[3]
redirect_every = int(sys.argv[4])
port_file = sys.argv[5]
log_path = sys.argv[6]
BUCKET_RE = re.compile(r"^/([^/?]+)/?(\?.*)?$")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te",
              "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate"}

lock = threading.Lock()
counter = [0]
late_put_held = [False]
log = open(log_path, "a", buffering=1)
ports = {}


def scope_region(auth):
    m = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request", auth or "")
    return m.group(1) if m else None


def error_xml(code, message, extra=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            '<Message>%s</Message>%s<RequestId>0000</RequestId></Error>'
            % (code, message, extra)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    port_name = "main"

    def log_message(self, fmt, *args):
        pass

    def record(self, status, signed):
        log.write("%s %s %s %s %s\n" % (self.port_name, status, self.command,
                                        self.path, signed))

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        signed = scope_region(self.headers.get("Authorization"))
        hold = False
        if len(body) < n:
            self.record("cut", signed)
            self.close_connection = True
            return
        if (mode == "late-put" and self.command == "PUT" and
                os.environ["LATE_PUT_KEY"] in self.path):
            with lock:
                hold = not late_put_held[0]
                late_put_held[0] = True
            if hold:
                self.record("held", signed)
                while not os.path.exists(os.environ["LATE_PUT_RELEASE"]):
                    time.sleep(0.02)
                time.sleep(float(os.environ["LATE_PUT_SECONDS"]))
        bucket = BUCKET_RE.match(self.path)
        is_head_bucket = self.command == "HEAD" and bucket

        if signed is not None and signed != region:
            if mode == "400":
                self.record(400, signed)
                return self.answer(400, [], error_xml(
                    "AuthorizationHeaderMalformed",
                    "The authorization header is malformed; the region "
                    "'%s' is wrong; expecting '%s'" % (signed, region),
                    "<Region>%s</Region>" % region))
            headers = []
            extra = ("<Endpoint>s3.%s.amazonaws.com</Endpoint>" % region)
            if mode == "301" or is_head_bucket:
                headers.append(("x-amz-bucket-region", region))
            self.record(301, signed)
            return self.answer(301, headers, error_xml(
                "PermanentRedirect", "The bucket you are attempting to "
                "access must be addressed using the specified endpoint.",
                extra))

        if (mode == "404-page" and self.command == "GET" and
                "/chunks/" in self.path):
            self.record(404, signed)
            return self.answer(404, [("Content-Type", "text/html")],
                               b"<html><body><h1>404 Not Found</h1>"
                               b"</body></html>\n")

        if self.port_name == "main" and redirect_every > 0:
            with lock:
                counter[0] += 1
                redirect = counter[0] % redirect_every == 0
            if redirect:
                self.record(307, signed)
                return self.answer(307, [
                    ("Location", "http://127.0.0.1:%d%s"
                     % (ports["redirect"], self.path))],
                    error_xml("TemporaryRedirect", "Please re-send this "
                              "request to the specified temporary "
                              "endpoint."))
        if self.port_name == "redirect":
            want = "127.0.0.1:%d" % ports["redirect"]
            if self.headers.get("Host") != want:
                self.record(400, signed)
                return self.answer(400, [], error_xml(
                    "InvalidRequest", "Host %s, not %s"
                    % (self.headers.get("Host"), want)))

        conn = http.client.HTTPConnection("127.0.0.1", backend_port,
                                          timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    conn.putheader(k, v)
            if n or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if n else None)
            resp = conn.getresponse()
            data = resp.read()
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in HOP_BY_HOP
                       and k.lower() != "content-length"]
            if self.command == "HEAD":
                length = resp.getheader("Content-Length")
            else:
                length = None
        finally:
            conn.close()
        self.record("landed" if hold else "fwd", signed)
        try:
            self.send_response(resp.status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length",
                             length if length is not None else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True        # the client is gone

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


class RedirectHandler(Handler):
    port_name = "redirect"


def main():
    servers = []
    for name, handler in (("main", Handler), ("redirect", RedirectHandler)):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        ports[name] = srv.server_address[1]
        servers.append(srv)
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(port_file + ".tmp", "w") as f:
        f.write("%d %d\n" % (ports["main"], ports["redirect"]))
    os.rename(port_file + ".tmp", port_file)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
