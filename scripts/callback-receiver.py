#!/usr/bin/env python3
"""A callback receiver for weevent's rest/subscribe, for tests and trying things out.

    scripts/callback-receiver.py PORT OUTFILE

Answers every POST with 200 and appends its body (one JSON object) as a line to OUTFILE,
flushed before answering. Python 3 standard library only.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer goes out in two writes (headers, then body): with Nagle's algorithm on, the body
    # would wait for the broker's delayed acknowledgement of the headers, up to 40 ms a POST.
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(self.server.outfile, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
            f.flush()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver)
    server.outfile = sys.argv[2]
    print("listening", flush=True)
    server.serve_forever()
