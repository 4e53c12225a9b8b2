#!/usr/bin/python3
"""A recall that acts: `lotline recall LOT --hold --reason R` on a
three-level chain, against a real `lotlined all`.

FLOUR F1 is received from a supplier (a partner), part of it goes into
manufacturing order MO-1, which makes DOUGH D1; all of D1 goes into MO-2,
which makes BREAD B1; some B1 and some F1 are delivered to customers, each
delivery naming the customer (a partner). The recall of F1 with --hold must
hold F1 (the lot recalled) and B1 (stock on hand), not D1 (nothing left),
and list both deliveries with their customers' ids and names, in JSON, CSV
and the table. Then the holds act: B1 cannot be delivered (422
LOT_ON_HOLD, naming the reason) nor consumed, but may move to quarantine;
the history shows the hold; a second recall holds nothing twice (the hold
keeps its first time); release lets B1 go again. Then the partners
report of F1 (a supplier, a customer net of a return), properties set,
merged and searched through the CLI, and units shown and checked."""
import csv
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_registry import BIN, Lotlined  # noqa: E402

REASON = "RC-7: salmonella suspicion"


def call(d, method, path, doc=None):
    req = urllib.request.Request(
        "http://%s%s" % (d.http, path),
        data=None if doc is None else json.dumps(doc).encode(),
        headers={"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def lot(d, product, lot_id, name, uom=None):
    body = {"lot_id": lot_id, "product_id": product, "name": name}
    if uom:
        body["uom"] = uom
    status, answer = call(d, "POST", "/v1/lots", body)
    assert status == 201, (status, answer)


def move(d, product, lot_id, qty, src, dst, ref=None, partner=None,
         want=201, uom=None):
    body = {"product_id": product, "lot_id": lot_id, "quantity": qty,
            "from": {"id": src[0], "usage": src[1]},
            "to": {"id": dst[0], "usage": dst[1]}}
    if ref:
        body["reference"] = ref
    if partner:
        body["partner"] = {"id": partner[0], "name": partner[1]}
    if uom:
        body["uom"] = uom
    status, answer = call(d, "POST", "/v1/moves", body)
    assert status == want, (body, status, answer)
    return answer


def lotline(d, *args):
    r = subprocess.run([os.path.join(BIN, "lotline"), "--api",
                        "http://" + d.http] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


STOCK = ("WH/Stock", "INTERNAL")
QUARANTINE = ("WH/Quarantine", "INTERNAL")
VENDOR = ("Vendors/Mill", "SUPPLIER")
PROD = ("Production", "PRODUCTION")
BOB = ("Customers/Bob", "CUSTOMER")
ANN = ("Customers/Ann", "CUSTOMER")


def build_chain(d):
    lot(d, "FLOUR", "F1", "F-0001", uom="kg")
    lot(d, "DOUGH", "D1", "D-0001", uom="kg")
    lot(d, "BREAD", "B1", "B-0001", uom="pcs")
    move(d, "FLOUR", "F1", "100", VENDOR, STOCK, "PO-1", ("S-1", "Mill AG"))
    move(d, "FLOUR", "F1", "60", STOCK, PROD, "MO-1")
    move(d, "DOUGH", "D1", "50", PROD, STOCK, "MO-1")
    move(d, "DOUGH", "D1", "50", STOCK, PROD, "MO-2")
    move(d, "BREAD", "B1", "80", PROD, STOCK, "MO-2")
    move(d, "BREAD", "B1", "30", STOCK, BOB, "SO-1", ("C-1", "Bob's Bistro"))
    move(d, "FLOUR", "F1", "10", STOCK, ANN, "SO-2", ("C-2", "Ann, Baker"))


def check_reports(d):
    """Balances and a location as of a past moment, on the chain."""
    status, b = call(d, "GET", "/v1/products/FLOUR/lots/F1/balance")
    assert status == 200, b
    assert b["locations"] == [{"location": "WH/Stock", "usage": "INTERNAL",
                               "opening": "0", "in": "100", "out": "70",
                               "closing": "30"}], b
    assert b["uom"] == "kg", b
    status, b = call(d, "GET", "/v1/lots/F1/balance?from=5&to=6")
    row = b["locations"][0]
    assert (row["opening"], row["in"], row["out"], row["closing"]) == \
        ("100", "0", "60", "40"), b  # 4 received 100, 5 consumed 60
    status, b = call(d, "GET", "/v1/balance?location=WH&children=1")
    got = {x["lot_id"]: (x["opening"], x["in"], x["out"], x["closing"])
           for x in b["lots"]}
    assert got == {"B1": ("0", "80", "30", "50"), "D1": ("0", "50", "50", "0"),
                   "F1": ("0", "100", "70", "30")}, b
    # Position 4 is F1's receipt: then WH/Stock held 100 of F1 only.
    status, b = call(d, "GET", "/v1/locations/WH%2FStock/lots?as_of=4")
    assert [(x["lot_id"], x["quantity"]) for x in b["lots"]] == \
        [("F1", "100")], b
    out = lotline(d, "balance", "F1", "--product", "FLOUR")
    assert "WH/Stock" in out and "Quantities in kg." in out, out
    out = lotline(d, "balance", "--location", "WH", "--children", "--to", "9")
    assert "D1" in out and "B1" in out, out
    print("balances per location and per lot; WH/Stock as of position 4")


def check_report(report):
    held = {(h["product_id"], h["lot_id"]): h for h in report["held"]}
    assert set(held) == {("FLOUR", "F1"), ("BREAD", "B1")}, report["held"]
    assert held[("BREAD", "B1")]["on_hand"] == "50", held
    assert held[("BREAD", "B1")]["uom"] == "pcs", held
    assert held[("FLOUR", "F1")]["reason"] == REASON, held
    lots = {(r["product_id"], r["lot_id"]): r["level"]
            for r in report["lots"]}
    assert lots == {("FLOUR", "F1"): 0, ("DOUGH", "D1"): 1,
                    ("BREAD", "B1"): 2}, lots
    left = {(x["lot_id"], x["location"]): (x["partner_id"],
                                           x["partner_name"], x["quantity"])
            for x in report["deliveries"]}
    assert left == {("B1", "Customers/Bob"): ("C-1", "Bob's Bistro", "30"),
                    ("F1", "Customers/Ann"): ("C-2", "Ann, Baker", "10")}, \
        left
    print("recall --hold held F1 and B1 (not D1, nothing left); deliveries "
          "with their customers: %s" % sorted(left.items()))


def check_formats(d):
    """The second run: nothing held twice, same lists in CSV and table."""
    rows = list(csv.DictReader(io.StringIO(lotline(
        d, "recall", "F1", "--product", "FLOUR", "--hold", "--reason",
        "RC-8", "--format", "csv"))))
    deliveries = [r for r in rows if r["record"] == "delivery"]
    assert {(r["lot_id"], r["partner_id"], r["partner_name"])
            for r in deliveries} == {("B1", "C-1", "Bob's Bistro"),
                                     ("F1", "C-2", "Ann, Baker")}, rows
    held = [r for r in rows if r["record"] == "held"]
    # The holds in force are the first ones: reason RC-7, not RC-8.
    assert sorted((r["lot_id"], r["reference"]) for r in held) == \
        [("B1", REASON), ("F1", REASON)], held
    table = lotline(d, "recall", "F1", "--product", "FLOUR")
    for word in ("PARTNER", "C-1", "Bob's Bistro", "Ann, Baker"):
        assert word in table, (word, table)
    assert "Held" not in table, table  # without --hold it only lists
    print("second recall: holds kept their first reason; CSV and table "
          "carry the partners")


def check_hold_acts(d):
    status, b1 = call(d, "GET", "/v1/products/BREAD/lots/B1")
    assert status == 200 and b1["hold"]["reason"] == REASON, b1
    since = b1["hold"]["since"]
    answer = move(d, "BREAD", "B1", "1", STOCK, BOB, "SO-3", want=422)
    assert answer["code"] == "LOT_ON_HOLD", answer
    assert REASON in answer["message"] and since in answer["message"], answer
    answer = move(d, "BREAD", "B1", "1", STOCK, PROD, "MO-3", want=422)
    assert answer["code"] == "LOT_ON_HOLD", answer
    move(d, "BREAD", "B1", "5", STOCK, QUARANTINE, "Q-1")
    status, hist = call(d, "GET", "/v1/products/BREAD/lots/B1/moves")
    types = [e["type"] for e in hist["events"]]
    assert types.count("LotHeld") == 2, types  # the recall ran twice
    assert hist["events"][types.index("LotHeld")]["reason"] == REASON, hist
    delivery = [e for e in hist["events"] if e.get("reference") == "SO-1"]
    assert delivery[0]["partner"] == {"id": "C-1", "name": "Bob's Bistro"}
    out = lotline(d, "release", "B1", "--product", "BREAD", "--reason",
                  "lab negative")
    assert "released" in out, out
    move(d, "BREAD", "B1", "1", QUARANTINE, BOB, "SO-3")
    print("held B1: delivery and consumption refused (LOT_ON_HOLD), "
          "quarantine move allowed; released, delivered")


def check_partners(d):
    """GET .../partners: suppliers and customers with net quantities."""
    move(d, "FLOUR", "F1", "4", ANN, STOCK, "RMA-1", ("C-2", "Ann, Baker"))
    status, body = call(d, "GET", "/v1/products/FLOUR/lots/F1/partners")
    assert status == 200, body
    assert body["uom"] == "kg", body
    assert body["suppliers"] == [{"id": "S-1", "name": "Mill AG",
                                  "quantity": "100", "moves": 1}], body
    # 10 delivered, 4 returned.
    assert body["customers"] == [{"id": "C-2", "name": "Ann, Baker",
                                  "quantity": "6", "moves": 2}], body
    status, body = call(d, "GET", "/v1/lots/B1/partners")
    assert status == 200 and body["suppliers"] == [], body
    assert [c["id"] for c in body["customers"]] == ["C-1"], body
    print("partners: supplier S-1 100 kg, customer C-2 6 kg net of a return")


def check_properties_and_units(d):
    """lotline create/update --property, lots --property, units."""
    out = lotline(d, "create", "--product", "FLOUR", "--lot-id", "F2",
                  "--name", "F-0002", "--property", "supplier_batch=SB-1",
                  "--property", "origin=DE")
    assert "Property:     origin=DE" in out, out
    lotline(d, "update", "F2", "--product", "FLOUR", "--property", "origin=",
            "--property", "grade=A")
    status, f2 = call(d, "GET", "/v1/products/FLOUR/lots/F2")
    assert f2["properties"] == {"grade": "A", "supplier_batch": "SB-1"}, f2
    assert f2["uom"] == "kg", f2  # the product's unit, fixed by F1
    out = lotline(d, "lots", "--property", "grade=A")
    assert "F2" in out and "F1" not in out, out
    out = lotline(d, "show", "F1", "--product", "FLOUR")
    assert "On hand:      34 kg" in out, out  # 30 and a return of 4
    answer = move(d, "FLOUR", "F2", "1", VENDOR, STOCK, want=422,
                  partner=("S-1", "Mill AG"), uom="lb")
    assert answer["code"] == "UOM_MISMATCH", answer
    lotline(d, "move", "--product", "FLOUR", "--lot-id", "F2", "--qty", "2",
            "--from", "Vendors/Mill:SUPPLIER", "--to", "WH/Stock",
            "--partner", "S-2", "--partner-name", "Other Mill", "--uom", "kg")
    status, body = call(d, "GET", "/v1/products/FLOUR/lots/F2/partners")
    assert [s["id"] for s in body["suppliers"]] == ["S-2"], body
    print("properties merged and found; units shown and checked")


def main():
    d = Lotlined()
    ok = False
    try:
        build_chain(d)
        check_reports(d)
        report = json.loads(lotline(d, "recall", "F1", "--product", "FLOUR",
                                    "--hold", "--reason", REASON,
                                    "--format", "json"))
        check_report(report)
        check_formats(d)
        check_hold_acts(d)
        check_partners(d)
        check_properties_and_units(d)
        ok = True
    finally:
        d.stop(ok)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
