#!/usr/bin/python3
"""An independent client: events written by python3-confluent-kafka and
python3-avro (not lotline's codec) must be read by lotline like its own.

Starts `lotlined all` on the embedded broker in a temp dir, produces a lot,
a receipt and an over-delivery in Avro single-object encoding, then checks
the Locations view over HTTP and reads the rejection back from
lots.rejected, decoding it with python3-avro. A lot is (product_id,
lot_id) and event ids are scoped by product: the same lot id and the same
event ids under a second product are a second lot and new events."""
import urllib.error
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import datetime
import decimal

import avro.io
import avro.schema
from confluent_kafka import Consumer, Producer

SCHEMAS = os.environ.get("LOTLINE_SCHEMAS", "schemas")
BIN = os.environ.get("LOTLINE_BIN", "build/bin")


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (the Rabin fingerprint of the Avro specification)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


def canonical_form(schema) -> str:
    # python3-avro 1.11.1 keeps {"type":"long"} for a long with a logical
    # type; the specification's PRIMITIVES rule (and the Java reference
    # implementation) turn it into "long". Normalise to the spec.
    pcf = schema.canonical_form
    for prim in ("long", "int", "bytes", "string"):
        pcf = pcf.replace('{"type":"%s"}' % prim, '"%s"' % prim)
    return pcf


def load(name):
    with open(os.path.join(SCHEMAS, name + ".v1.avsc")) as f:
        return avro.schema.parse(f.read())


def single_object(schema, record) -> bytes:
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buf))
    fp = crc64_avro(canonical_form(schema).encode())
    return b"\xc3\x01" + struct.pack("<Q", fp) + buf.getvalue()


def ts(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


def wait_file(path, timeout_s=20):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                line = f.readline().strip()
            if line:
                return line
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + path)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def main():
    tmp = tempfile.mkdtemp(prefix="lotline-py-")
    log = open(os.path.join(tmp, "lotlined.log"), "w")
    proc = subprocess.Popen(
        [os.path.join(BIN, "lotlined"), "all", "--data", tmp, "--http",
         "127.0.0.1:0"], stdout=log, stderr=log)
    ok = False
    try:
        brokers = wait_file(os.path.join(tmp, "broker.addr"))
        http = wait_file(os.path.join(tmp, "http.addr"))
        created, moved = load("LotCreated"), load("StockMoved")
        now = int(time.time() * 1000)
        p = Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random"})
        p.produce("lots.inbound", key=b"RESIN", value=single_object(created, {
            "event_id": "py-c1", "occurred_at": ts(now), "product_id": "RESIN",
            "lot_id": "PY-1", "name": "R-2026-01", "tracking": "LOT",
            "reference": "PO-1", "description": None,
            "expiration_at": ts(now + 86400000 * 365), "use_by_at": None,
            "removal_at": None, "alert_at": None}))

        # The same lot id and event id under another product.
        p.produce("lots.inbound", key=b"GLUE", value=single_object(created, {
            "event_id": "py-c1", "occurred_at": ts(now), "product_id": "GLUE",
            "lot_id": "PY-1", "name": "G-2026-01", "tracking": "LOT",
            "reference": None, "description": None, "expiration_at": None,
            "use_by_at": None, "removal_at": None, "alert_at": None}))

        def move(eid, qty, src, dst, product="RESIN", lot_id="PY-1",
                 lot_name=None):
            return single_object(moved, {
                "event_id": eid, "occurred_at": ts(now), "product_id": product,
                "lot_id": lot_id, "lot_name": lot_name,
                "quantity": decimal.Decimal(qty), "from": src, "to": dst,
                "reference": "WH/IN/0001"})

        vendor = {"id": "Vendors/Acme", "usage": "SUPPLIER"}
        stock = {"id": "WH/Stock", "usage": "INTERNAL"}
        customer = {"id": "Customers/Bob", "usage": "CUSTOMER"}
        p.produce("lots.inbound", key=b"RESIN",
                  value=move("py-m1", "12.250000", vendor, stock))
        p.produce("lots.inbound", key=b"RESIN",
                  value=move("py-m2", "20.000000", stock, customer))
        p.produce("lots.inbound", key=b"GLUE",
                  value=move("py-m1", "3.000000", vendor, stock, "GLUE"))
        assert p.flush(15) == 0, "producer did not deliver"

        def wait_view(product, on_hand):
            url = "http://%s/v1/products/%s/lots/PY-1/locations" % (http,
                                                                     product)
            deadline = time.time() + 20
            view = None
            while time.time() < deadline:
                try:
                    view = get_json(url)
                    if view.get("on_hand") == on_hand:
                        break
                except Exception:
                    pass
                time.sleep(0.1)
            assert view and view["on_hand"] == on_hand, (product, view)
            return view

        view = wait_view("RESIN", "12.25")
        assert view["locations"] == [
            {"location": "WH/Stock", "usage": "INTERNAL", "quantity": "12.25"}
        ], view["locations"]
        # A blank lot_id is an absent one: the move names its lot by
        # lot_name; it is accepted, published with the lot's id, and its
        # redelivery (blank or absent lot_id alike) is a no-op.
        for lot_id in ("", None, ""):
            p.produce("lots.inbound", key=b"RESIN",
                      value=move("py-m3", "1.000000", vendor, stock,
                                 lot_id=lot_id, lot_name="R-2026-01"))
        assert p.flush(15) == 0, "producer did not deliver"
        view = wait_view("RESIN", "13.25")
        glue = wait_view("GLUE", "3")
        assert glue["product_id"] == "GLUE", glue
        lot = get_json("http://%s/v1/products/RESIN/lots/PY-1" % http)
        assert lot["name"] == "R-2026-01" and lot["reference"] == "PO-1", lot
        try:
            get_json("http://%s/v1/lots/PY-1" % http)
            raise AssertionError("/v1/lots/PY-1 named one of two lots")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            assert e.code == 409 and body["code"] == "AMBIGUOUS_LOT" and \
                body["products"] == ["GLUE", "RESIN"], (e.code, body)

        rejection_schema = load("Rejection")
        fp = struct.pack("<Q", crc64_avro(
            canonical_form(rejection_schema).encode()))
        c = Consumer({"bootstrap.servers": brokers, "group.id": "py-test",
                      "auto.offset.reset": "earliest"})
        c.subscribe(["lots.rejected"])
        got, ids, quiet_until = None, [], 0.0
        deadline = time.time() + 20
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                if got is not None and time.time() > quiet_until:
                    break
                continue
            v = m.value()
            assert v[:2] == b"\xc3\x01" and v[2:10] == fp, "not single-object"
            rec = avro.io.DatumReader(rejection_schema).read(
                avro.io.BinaryDecoder(io.BytesIO(v[10:])))
            assert m.key() == b"RESIN"
            ids.append(rec["event_id"])
            got = got or rec
            quiet_until = time.time() + 2
        c.close()
        assert ids == ["py-m2"], "rejections on lots.rejected: %s" % ids
        assert got is not None, "no rejection on lots.rejected"
        assert got["code"] == "INSUFFICIENT_STOCK", got
        assert got["event_id"] == "py-m2", got
        assert "12.25" in got["message"] and "20" in got["message"], got
        print("python client: view", view["locations"], "rejection",
              got["code"], "-", got["message"])
        ok = True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        log.close()
        if not ok or rc != 0:
            with open(os.path.join(tmp, "lotlined.log")) as f:
                sys.stderr.write(f.read()[-6000:])
        shutil.rmtree(tmp, ignore_errors=True)
    if rc != 0:
        raise AssertionError("lotlined exited with %d" % rc)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
