"""A stand-in for an OpenTelemetry collector, for bench/observability.sh:

    python3 bench/otlp_sink.py 127.0.0.1:18318

Answers 200 to every `POST /v1/traces` (OTLP/HTTP, protobuf) and counts the exports, their
bytes and the spans in them. `POST /reset` answers the counts since the last reset, as one
JSON object, and starts again; it also names the spans of the first export after the
previous reset (`names`: span name -> count), a sample of what a request's trace holds.

It stays cheap on purpose, as it shares the CPU with the server it measures: each span is
counted by skipping over it, and only one export per reset is decoded down to the names.
"""

import json
import sys
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer

# Field numbers of opentelemetry/proto/{collector/trace,trace}/v1: ExportTraceServiceRequest
# .resource_spans (1) -> ResourceSpans.scope_spans (2) -> ScopeSpans.spans (2) -> Span.name (5).
RESOURCE_SPANS, SCOPE_SPANS, SPANS, SPAN_NAME = 1, 2, 2, 5
VARINT, I64, LEN, I32 = 0, 1, 2, 5


def varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def fields(data, start=0, end=None):
    """(field number, start, end) of each length-delimited field; other fields are skipped."""
    at, end = start, len(data) if end is None else end
    while at < end:
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            _, at = varint(data, at)
        elif wire == I64:
            at += 8
        elif wire == I32:
            at += 4
        elif wire == LEN:
            length, at = varint(data, at)
            yield number, at, at + length
            at += length
        else:
            raise ValueError(f"wire type {wire}")


def spans_of(data):
    """(start, end) of each span in an ExportTraceServiceRequest."""
    for number, start, end in fields(data):
        if number != RESOURCE_SPANS:
            continue
        for number, scope_start, scope_end in fields(data, start, end):
            if number != SCOPE_SPANS:
                continue
            for number, span_start, span_end in fields(data, scope_start, scope_end):
                if number == SPANS:
                    yield span_start, span_end


def fresh():
    return {"exports": 0, "bytes": 0, "spans": 0, "undecodable": 0, "names": {}}


counts = fresh()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global counts
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            self.answer(200, json.dumps(counts).encode(), "application/json")
            counts = fresh()
            return
        if self.path != "/v1/traces":
            self.answer(404, b"", "text/plain")
            return
        counts["exports"] += 1
        counts["bytes"] += len(body)
        try:
            spans = list(spans_of(body))
        except (IndexError, ValueError):
            counts["undecodable"] += 1
            spans = []
        counts["spans"] += len(spans)
        if not counts["names"] and spans:
            names = Counter()
            for start, end in spans:
                for number, name_start, name_end in fields(body, start, end):
                    if number == SPAN_NAME:
                        names[body[name_start:name_end].decode()] += 1
            counts["names"] = dict(names)
        # An empty ExportTraceServiceResponse: everything accepted.
        self.answer(200, b"", "application/x-protobuf")

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    HTTPServer((host, int(port)), Sink).serve_forever()
