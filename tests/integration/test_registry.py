#!/usr/bin/python3
"""Schema Registry end to end: Confluent-framed events (00 + 4-byte
big-endian schema id + Avro binary), written by python3-confluent-kafka and
python3-avro, resolve their ids through a registry that lotlined reaches at
schema.registry.url.

The registry is a small in-test HTTP server on 127.0.0.1 that answers
GET /schemas/ids/{id} as Confluent's REST API does ({"schema": "<text>"},
404 {"error_code": 40403, ...} for an unknown id). The test checks:
  1. framed events with known ids are accepted and visible over HTTP;
  2. with the registry stopped, an event with a new (uncached) id is not
     rejected: lotlined retries, and the partition waits (a later event of
     the same product, with a cached id, is not applied before it either);
  3. once the registry is back on the same port, both are accepted in order;
  4. an id the registry does not know (404) is rejected as UNKNOWN_SCHEMA.

The pieces (registry server, lotlined runner, framing) are reused by
test_evolution.py."""
import datetime
import decimal
import http.server
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import avro.io
import avro.schema
from confluent_kafka import Producer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_python_client import canonical_form, crc64_avro  # noqa: E402

SCHEMAS = os.environ.get("LOTLINE_SCHEMAS", "schemas")
BIN = os.environ.get("LOTLINE_BIN", "build/bin")
WAIT_S = 30  # longest wait for any one condition


# ---- the registry -------------------------------------------------------

class Registry:
    """GET /schemas/ids/{id} over a dict {id: schema text}. Can be stopped
    and started again on the same port (SO_REUSEADDR: http.server's
    default)."""

    def __init__(self):
        self.schemas = {}
        self.requests = []  # ids asked for, in order
        self.port = 0
        self.server = None
        self.thread = None

    def start(self):
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                m = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
                if not m:
                    return self.answer(404, {"error_code": 404,
                                             "message": "HTTP 404 Not Found"})
                sid = int(m.group(1))
                registry.requests.append(sid)
                if sid not in registry.schemas:
                    return self.answer(404, {"error_code": 40403,
                                             "message": "Schema %d not found"
                                             % sid})
                return self.answer(200, {"schema": registry.schemas[sid]})

            def answer(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type",
                                 "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port


# ---- lotlined -----------------------------------------------------------

class Lotlined:
    """`lotlined all` on the embedded broker in a temp dir."""

    def __init__(self, *extra_args):
        self.tmp = tempfile.mkdtemp(prefix="lotline-reg-")
        self.log_path = os.path.join(self.tmp, "lotlined.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "lotlined"), "all", "--data",
             os.path.join(self.tmp, "data"), "--http", "127.0.0.1:0"]
            + list(extra_args), stdout=self.log, stderr=self.log)
        self.brokers = wait_file(os.path.join(self.tmp, "data",
                                              "broker.addr"))
        self.http = wait_file(os.path.join(self.tmp, "data", "http.addr"))

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, needle, count=1):
        """Wait until `needle` occurs `count` times in the log."""
        wait_until(lambda: self.log_text().count(needle) >= count,
                   "%d x %r in the lotlined log" % (count, needle))

    def get(self, path):
        """(status, JSON body) of GET path."""
        try:
            with urllib.request.urlopen("http://%s%s" % (self.http, path),
                                        timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def rejections(self):
        status, body = self.get("/v1/rejections?limit=100")
        assert status == 200, body
        return body["rejections"]

    def stop(self, ok):
        """SIGTERM; lotlined must exit 0. Dumps the log unless ok."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.log.close()
        if not ok or rc != 0:
            sys.stderr.write(self.log_text()[-8000:])
        shutil.rmtree(self.tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError("lotlined exited with %d" % rc)


# ---- helpers ------------------------------------------------------------

def wait_until(cond, what, timeout_s=WAIT_S):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def wait_file(path):
    line = [None]

    def ready():
        if os.path.exists(path):
            with open(path) as f:
                line[0] = f.readline().strip()
        return bool(line[0])
    wait_until(ready, path)
    return line[0]


def schema_text(name, directory=SCHEMAS):
    with open(os.path.join(directory, name)) as f:
        return f.read()


def avro_binary(schema, record):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def confluent(schema_id, schema, record):
    """Confluent wire format: magic 00, schema id (4 bytes, big-endian),
    Avro binary."""
    return b"\x00" + struct.pack(">I", schema_id) + avro_binary(schema,
                                                                record)


def single_object(schema, record):
    fp = crc64_avro(canonical_form(schema).encode())
    return b"\xc3\x01" + struct.pack("<Q", fp) + avro_binary(schema, record)


def ts(ms):
    return datetime.datetime.fromtimestamp(ms / 1000,
                                           tz=datetime.timezone.utc)


def rfc3339(ms):
    return ts(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def lot_created(event_id, product, lot_id, name, now_ms, **extra):
    rec = {"event_id": event_id, "occurred_at": ts(now_ms),
           "product_id": product, "lot_id": lot_id, "name": name,
           "tracking": "LOT", "reference": None, "description": None,
           "expiration_at": None, "use_by_at": None, "removal_at": None,
           "alert_at": None}
    rec.update(extra)
    return rec


def stock_moved(event_id, product, lot_id, qty, now_ms, src, dst):
    return {"event_id": event_id, "occurred_at": ts(now_ms),
            "product_id": product, "lot_id": lot_id, "lot_name": None,
            # python3-avro writes the Decimal's own digits as the unscaled
            # value: give it exactly the schema's scale (6).
            "quantity": decimal.Decimal(qty).quantize(decimal.Decimal(
                "0.000001")), "from": src, "to": dst,
            "reference": None}


VENDOR = {"id": "Vendors/Acme", "usage": "SUPPLIER"}
STOCK = {"id": "WH/Stock", "usage": "INTERNAL"}


def produce(brokers, items):
    """items: (key, value) pairs, sent in order and flushed."""
    p = Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random", "enable.idempotence": True})
    for key, value in items:
        p.produce("lots.inbound", key=key.encode(), value=value)
    assert p.flush(15) == 0, "producer did not deliver"


def wait_lot(d, lot_id, on_hand=None):
    """Wait until GET /v1/lots/{lot_id} answers (with on_hand, if given);
    returns the lot."""
    got = [None]

    def ready():
        status, body = d.get("/v1/lots/" + lot_id)
        got[0] = body
        return status == 200 and (on_hand is None
                                  or body.get("on_hand") == on_hand)
    try:
        wait_until(ready, "lot %s (on hand %s)" % (lot_id, on_hand))
    except AssertionError:
        sys.stderr.write("last answer: %r\n" % (got[0],))
        raise
    return got[0]


# ---- the test -----------------------------------------------------------

ID_CREATED, ID_MOVED, ID_CREATED_NEW, ID_UNKNOWN = 1, 2, 3, 999


def main():
    created_text = schema_text("LotCreated.v1.avsc")
    moved_text = schema_text("StockMoved.v1.avsc")
    created = avro.schema.parse(created_text)
    moved = avro.schema.parse(moved_text)

    reg = Registry()
    reg.schemas = {ID_CREATED: created_text, ID_MOVED: moved_text,
                   ID_CREATED_NEW: created_text}
    reg.start()
    d = Lotlined("--set", "schema.registry.url=" + reg.url)
    ok = False
    try:
        now = int(time.time()) * 1000  # whole seconds: exact RFC 3339

        # 1. Known ids: accepted and visible.
        produce(d.brokers, [
            ("RESIN", confluent(ID_CREATED, created, lot_created(
                "reg-c1", "RESIN", "REG-1", "R-1", now, reference="PO-7",
                expiration_at=ts(now + 86400000 * 30)))),
            ("RESIN", confluent(ID_MOVED, moved, stock_moved(
                "reg-m1", "RESIN", "REG-1", "7.5", now, VENDOR, STOCK))),
        ])
        lot = wait_lot(d, "REG-1", on_hand="7.5")
        assert lot["name"] == "R-1" and lot["reference"] == "PO-7", lot
        assert lot["expiration_at"] == rfc3339(now + 86400000 * 30), lot
        assert set(reg.requests) == {ID_CREATED, ID_MOVED}, reg.requests
        asked_before = len(reg.requests)
        print("registry up: REG-1 accepted, on hand", lot["on_hand"])

        # 2. Registry down: a new id waits, and so does the partition.
        reg.stop()
        retries_before = d.log_text().count("will retry")
        produce(d.brokers, [
            ("FOAM", confluent(ID_CREATED_NEW, created, lot_created(
                "reg-c2", "FOAM", "REG-2", "F-1", now))),
            ("FOAM", confluent(ID_MOVED, moved, stock_moved(
                "reg-m2", "FOAM", "REG-2", "3", now, VENDOR, STOCK))),
        ])
        d.wait_log("will retry", retries_before + 3)
        assert d.rejections() == [], d.rejections()
        status, _ = d.get("/v1/lots/REG-2")
        assert status == 404, "REG-2 visible while the registry is down"
        print("registry down: %d retries, no rejection, REG-2 waits" %
              (d.log_text().count("will retry") - retries_before))

        # 3. Registry back on the same port: both accepted, in order.
        reg.start()
        lot = wait_lot(d, "REG-2", on_hand="3")
        assert lot["name"] == "F-1" and lot["product_id"] == "FOAM", lot
        assert reg.requests[asked_before:] == [ID_CREATED_NEW], \
            reg.requests  # the cached id 2 was not asked for again
        assert d.rejections() == [], d.rejections()
        print("registry back: REG-2 accepted, on hand", lot["on_hand"])

        # 4. An id the registry does not know: UNKNOWN_SCHEMA, and the
        # partition goes on (the next event of the product is accepted).
        produce(d.brokers, [
            ("RESIN", confluent(ID_UNKNOWN, created, lot_created(
                "reg-c3", "RESIN", "REG-3", "R-3", now))),
            ("RESIN", confluent(ID_CREATED, created, lot_created(
                "reg-c4", "RESIN", "REG-4", "R-4", now))),
        ])
        wait_lot(d, "REG-4")
        rejs = d.rejections()
        assert len(rejs) == 1, rejs
        assert rejs[0]["code"] == "UNKNOWN_SCHEMA", rejs
        assert str(ID_UNKNOWN) in rejs[0]["message"], rejs
        assert d.get("/v1/lots/REG-3")[0] == 404
        print("unknown id: %s - %s" % (rejs[0]["code"], rejs[0]["message"]))
        ok = True
    finally:
        reg.stop()
        d.stop(ok)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
