#!/usr/bin/python3
"""Schema evolution end to end: producers that write the previous and a
newer compatible version of LotCreated are both read correctly.

lotlined runs with schemas.dir = a temp copy of schemas/ plus
schemas-evolution/LotCreated.v3.avsc (v2 + an optional field with a
default), so the reader schema is v3, as after a schema upgrade. Then:
  - a v1 producer (the schema of before units and properties, single-object
    encoding, known by fingerprint from the schema directory),
  - a v2 producer (schemas/LotCreated.v2.avsc: uom and properties, which
    must arrive),
  - a v3 producer (the reader's own version, single-object encoding),
  - a newer producer whose schema is not in the directory (fields in
    another order, an extra field, an extra enum symbol, a field left out)
    and reaches lotline through the Schema Registry (Confluent framing),
  - and the HTTP API (which encodes with the reader schema, v2)
each create a lot; every field visible over HTTP must be what the producer
wrote, and a move on each lot must apply, written with StockMoved v1 (the
schema of before partners) or v2 (with a partner, which the history
shows)."""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

import avro.schema

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_registry import (SCHEMAS, STOCK, VENDOR, Lotlined,  # noqa: E402
                           Registry, confluent, lot_created, produce,
                           rfc3339, schema_text, single_object, stock_moved,
                           ts, wait_lot)

HERE = os.path.dirname(os.path.abspath(__file__))
EVOLUTION = os.path.join(HERE, "schemas-evolution")
ID_V3 = 42
DAY_MS = 86400000


def post_once(http, path, doc, key):
    req = urllib.request.Request(
        "http://%s%s" % (http, path), data=json.dumps(doc).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def post_json(http, path, doc, key, attempts=3):
    """POST as a careful client does (docs/api.md, Idempotency): a 503
    (no outcome within the write timeout, e.g. while the consumer still
    joins its group and a registry fetch is retried) is sent again with
    the same Idempotency-Key, which cannot apply the write twice."""
    for attempt in range(1, attempts + 1):
        status, body = post_once(http, path, doc, key)
        if status != 503 or attempt == attempts:
            return status, body
        print("POST %s: 503 (%s); retrying with Idempotency-Key %s"
              % (path, body.get("message"), key))


def main():
    schema_dir = tempfile.mkdtemp(prefix="lotline-evo-schemas-")
    for f in os.listdir(SCHEMAS):
        if f.endswith(".avsc"):
            shutil.copy(os.path.join(SCHEMAS, f), schema_dir)
    shutil.copy(os.path.join(EVOLUTION, "LotCreated.v3.avsc"), schema_dir)

    v1 = avro.schema.parse(schema_text("LotCreated.v1.avsc"))
    v2 = avro.schema.parse(schema_text("LotCreated.v2.avsc"))
    v3_dir = avro.schema.parse(schema_text("LotCreated.v3.avsc", EVOLUTION))
    v3_text = schema_text("LotCreated.v3-registry.json", EVOLUTION)
    v3 = avro.schema.parse(v3_text)
    moved = avro.schema.parse(schema_text("StockMoved.v1.avsc"))
    moved2 = avro.schema.parse(schema_text("StockMoved.v2.avsc"))

    reg = Registry()
    reg.schemas = {ID_V3: v3_text}
    reg.start()
    d = Lotlined("--set", "schemas.dir=" + schema_dir,
                 "--set", "schema.registry.url=" + reg.url)
    ok = False
    try:
        now = int(time.time()) * 1000  # whole seconds: exact RFC 3339
        exp, use_by, alert = now + 90 * DAY_MS, now + 60 * DAY_MS, \
            now + 30 * DAY_MS
        dates = {"expiration_at": ts(exp), "use_by_at": ts(use_by),
                 "alert_at": ts(alert)}
        produce(d.brokers, [
            ("RESIN", single_object(v1, lot_created(
                "evo-1", "RESIN", "EVO-1", "R-v1", now, reference="PO-1",
                description="written with v1", **dates))),
            ("RESIN", single_object(v2, lot_created(
                "evo-2", "RESIN", "EVO-2", "R-v2", now, reference="PO-2",
                description="written with v2", uom="kg",
                properties={"supplier_batch": "SB-2"}, **dates))),
            ("RESIN", single_object(v3_dir, lot_created(
                "evo-5", "RESIN", "EVO-5", "R-v3d", now, reference="PO-5",
                description="written with v3", origin_country="DE",
                **dates))),
            ("RESIN", confluent(ID_V3, v3, {
                "event_id": "evo-3", "product_id": "RESIN",
                "lot_id": "EVO-3", "name": "R-v3", "supplier_batch": "SB-9",
                "occurred_at": ts(now), "tracking": "LOT",
                "origin_country": "FR", "reference": "PO-3",
                "description": "written with a newer schema",
                "expiration_at": ts(exp), "use_by_at": ts(use_by),
                "alert_at": ts(alert)})),
        ])
        status, body = post_json(d.http, "/v1/lots", {
            "lot_id": "EVO-4", "product_id": "RESIN", "name": "R-http",
            "tracking": "LOT", "reference": "PO-4",
            "description": "written over HTTP",
            "expiration_at": rfc3339(exp), "use_by_at": rfc3339(use_by),
            "alert_at": rfc3339(alert)}, key="evo-4")
        assert status == 201, (status, body)

        expected = {
            "EVO-1": ("R-v1", "PO-1", "written with v1"),
            "EVO-2": ("R-v2", "PO-2", "written with v2"),
            "EVO-3": ("R-v3", "PO-3", "written with a newer schema"),
            "EVO-4": ("R-http", "PO-4", "written over HTTP"),
            "EVO-5": ("R-v3d", "PO-5", "written with v3"),
        }
        for lot_id, (name, ref, desc) in expected.items():
            lot = wait_lot(d, lot_id)
            want = {"lot_id": lot_id, "name": name, "product_id": "RESIN",
                    "tracking": "LOT", "reference": ref, "description": desc,
                    "expiration_at": rfc3339(exp),
                    "use_by_at": rfc3339(use_by), "removal_at": None,
                    "alert_at": rfc3339(alert), "version": 1}
            got = {k: lot.get(k) for k in want}
            assert got == want, "%s: got %r, want %r" % (lot_id, got, want)
            print("%s read correctly: %s / %s / %s" % (lot_id, name, ref,
                                                       desc))

        # What v2 added arrived; the lots without a unit take the
        # product's, which EVO-2 (the first lot stating one) fixed.
        lot = wait_lot(d, "EVO-2")
        assert lot["uom"] == "kg", lot
        assert lot["properties"] == {"supplier_batch": "SB-2"}, lot
        print("EVO-2 (v2) kept uom kg and its properties")

        # The lots work for the events that follow: StockMoved v1 and, with
        # a partner, v2.
        def move(lot_id):
            if lot_id in ("EVO-1", "EVO-3"):
                return single_object(moved, stock_moved(
                    "evo-m-" + lot_id, "RESIN", lot_id, "2.5", now, VENDOR,
                    STOCK))
            ev = stock_moved("evo-m-" + lot_id, "RESIN", lot_id, "2.5", now,
                             VENDOR, STOCK)
            ev["partner"] = {"id": "S-9", "name": "Resin Inc"}
            ev["uom"] = "kg"
            return single_object(moved2, ev)
        produce(d.brokers, [("RESIN", move(lot_id)) for lot_id in expected])
        for lot_id in expected:
            wait_lot(d, lot_id, on_hand="2.5")
        status, hist = d.get("/v1/lots/EVO-2/moves")
        assert status == 200, hist
        assert hist["events"][-1]["partner"] == {
            "id": "S-9", "name": "Resin Inc"}, hist
        assert d.rejections() == [], d.rejections()
        assert reg.requests == [ID_V3], reg.requests
        print("moves applied to every lot; no rejection")
        ok = True
    finally:
        reg.stop()
        d.stop(ok)
        shutil.rmtree(schema_dir, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
