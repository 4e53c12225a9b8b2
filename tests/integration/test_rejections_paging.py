#!/usr/bin/python3
"""GET /v1/rejections a page at a time on one `lotlined all` (embedded
broker, four partitions of lots.inbound), through Kafka and the rules.

Over-deliveries of lots of six products are rejected (422). Paged with
next_before at several page sizes, the rejections come back exactly
once each, newest first by (rejected_at, partition, offset), the same
list as one big page, the last page's next_before null. Rejections
decided while a client pages back do not disturb it: the pages after its
cursor hold exactly the older ones. A cursor that is not a next_before is
a 400 saying what it takes."""
import calendar
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_registry import Lotlined  # noqa: E402

PRODUCTS = 6
STOCK = {"id": "WH/Stock", "usage": "INTERNAL"}


def call(d, method, path, doc=None, headers=None):
    req = urllib.request.Request(
        "http://%s%s" % (d.http, path),
        data=None if doc is None else json.dumps(doc).encode(),
        headers=dict({"Content-Type": "application/json"}, **(headers or {})),
        method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def setup_lots(d):
    for n in range(PRODUCTS):
        prod, lot = "P-%d" % n, "L-%d" % n
        st, body = call(d, "POST", "/v1/lots",
                        {"lot_id": lot, "product_id": prod, "name": lot})
        assert st == 201, (st, body)
        st, body = call(d, "POST", "/v1/moves", {
            "product_id": prod, "lot_id": lot, "quantity": "5",
            "from": {"id": "Vendors", "usage": "SUPPLIER"}, "to": STOCK})
        assert st == 201, (st, body)


def over_deliver(d, eid, n):
    st, body = call(d, "POST", "/v1/moves", {
        "product_id": "P-%d" % n, "lot_id": "L-%d" % n, "quantity": "99",
        "from": STOCK, "to": {"id": "Customers", "usage": "CUSTOMER"}},
        {"Idempotency-Key": eid})
    assert st == 422 and body["code"] == "INSUFFICIENT_STOCK", (st, body)
    return eid


def time_ms(text):
    whole, _, frac = text.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + (int(frac.ljust(3, "0")) if frac else 0)


def key(r):
    return (time_ms(r["rejected_at"]), r["partition"], r["offset"])


def page(d, limit, before=None):
    q = "/v1/rejections?limit=%d" % limit
    if before is not None:
        q += "&before=" + urllib.parse.quote(before, safe="")
    st, body = call(d, "GET", q)
    assert st == 200, (st, body)
    assert len(body["rejections"]) <= limit, body
    return body["rejections"], body["next_before"]


def page_through(d, limit, before=None):
    rows, pages = [], 0
    while True:
        got, before = page(d, limit, before)
        rows += got
        pages += 1
        assert pages < 1000, "paging does not end"
        if before is None:
            return rows, pages


def check_pages(d, ids):
    whole, _ = page(d, 1000)
    assert sorted(r["event_id"] for r in whole) == sorted(ids), whole
    assert [key(r) for r in whole] == sorted(map(key, whole), reverse=True)
    for limit in (1, 4, 7, len(ids) - 1, len(ids)):
        rows, pages = page_through(d, limit)
        assert rows == whole, "limit %d: pages differ from one page" % limit
        assert pages == (len(ids) + limit - 1) // limit, (limit, pages)
    print("ok: %d rejections paged at 5 sizes, each once, newest first" %
          len(ids))
    return whole


def check_new_ones_while_paging(d, whole, ids):
    """New rejections are newer than any cursor already given out."""
    first, before = page(d, 5)
    assert first == whole[:5]
    newer = [over_deliver(d, "later-%d" % k, k % PRODUCTS) for k in range(3)]
    wait_rejections(d, len(ids) + len(newer))
    rest, _ = page_through(d, 4, before)
    assert first + rest == whole, "paging back after new rejections"
    top, _ = page(d, 3)
    assert sorted(r["event_id"] for r in top) == sorted(newer), top
    print("ok: rejections decided while paging back neither show in the "
          "older pages nor push a row out of them")


def check_bad_cursors(d):
    for bad in ("x", "1:2", "1:2:3:4", "-1:0:0", "1:2:", "1.5:2:3"):
        st, body = call(d, "GET", "/v1/rejections?before=" +
                        urllib.parse.quote(bad, safe=""))
        assert st == 400 and "next_before" in body["message"], (bad, body)
    print("ok: a bad cursor is a 400 naming next_before")


def wait_rejections(d, count, timeout_s=30):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if len(page(d, 1000)[0]) >= count:
            return
        time.sleep(0.1)
    raise AssertionError("fewer than %d rejections" % count)


def main():
    d = Lotlined("--set", "broker.partitions=4")
    ok = False
    try:
        setup_lots(d)
        ids = [over_deliver(d, "too-much-%d" % k, k % PRODUCTS)
               for k in range(40)]
        wait_rejections(d, len(ids))
        whole = check_pages(d, ids)
        check_new_ones_while_paging(d, whole, ids)
        check_bad_cursors(d)
        ok = True
    finally:
        d.stop(ok)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
