#!/usr/bin/env python3
"""An HTTP server for the remote source's tests that serves files with range requests
and misbehaves on purpose, as the first path components ask:

  /ok/FILE              correct: 206 with Content-Range, ETag, If-Match (412)
  /status/CODE/FILE     always answers CODE with an S3-style XML error body
  /flaky/N/FILE         the first N requests of each FILE get 503, then correct
  /truncate/N/FILE      the first N responses stop halfway through the body
  /norange/FILE         ignores Range: 200 with the whole file
  /badrange/FILE        206 whose Content-Range is one byte off
  /stall/N/FILE         the first N responses send their headers, then nothing
  /slowfirst/MS/FILE    the first data request (after the 2 of Open) waits MS ms

FILE is read from the directory given as the first argument at every request, so a
test can replace it mid-restore (the ETag follows its size and modification time).
Prints "port N" on stdout once listening on 127.0.0.1, then serves until killed.
"""

import email.utils
import http.server
import os
import socketserver
import sys
import threading
import time

ROOT = sys.argv[1]
COUNTS = {}
COUNTS_LOCK = threading.Lock()


def count(key):
    with COUNTS_LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def error(self, code, s3_code):
        body = ("<?xml version=\"1.0\"?><Error><Code>%s</Code></Error>" % s3_code).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.lstrip("/").split("/")
        mode, args = parts[0], parts[1:]
        arg = None
        if mode in ("status", "flaky", "truncate", "stall", "slowfirst"):
            arg, args = int(args[0]), args[1:]
        name = "/".join(args)
        path = os.path.join(ROOT, name)
        n = count((mode, arg, name))
        if mode == "status":
            codes = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError"}
            return self.error(arg, codes.get(arg, "Error"))
        if mode == "flaky" and n <= arg:
            return self.error(503, "SlowDown")
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except FileNotFoundError:
            return self.error(404, "NoSuchKey")
        etag = '"%x-%x"' % (st.st_mtime_ns, st.st_size)
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match != etag:
            return self.error(412, "PreconditionFailed")
        size = len(data)
        start, end = 0, size - 1
        ranged = False
        spec = self.headers.get("Range")
        if spec and mode != "norange":
            spec = spec.split("=", 1)[1]
            first, last = spec.split("-")
            if first == "":
                start = max(0, size - int(last))
            else:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            ranged = True
        if mode == "slowfirst" and n == 3:
            time.sleep(arg / 1000.0)
        body = data[start:end + 1]
        self.send_response(206 if ranged else 200)
        if ranged:
            shift = 1 if mode == "badrange" else 0
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start + shift, end + shift, size))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if mode == "stall" and n <= arg:
            time.sleep(30)
            return
        if mode == "truncate" and n <= arg:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print("port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
