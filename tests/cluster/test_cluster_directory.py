#!/usr/bin/python3
"""The ownership directory and forwarding between instances
(docs/api.md, "Running as a cluster"; services/cluster, services/http/
api_cluster.c), on two `lotlined all` instances of one group:

  - GET /v1/cluster on each lists both, their partitions disjoint and
    covering the input topic;
  - writes and reads about any lot through either instance: the same JSON
    (the non-owner forwards to the owner); a write retried through the
    other instance with its Idempotency-Key gives the recorded outcome;
  - a request carrying Lotline-Forwarded is never forwarded again: on the
    owner it is answered, on the other instance 503;
  - 64 clients at once, each forwarded to the other instance, both ways:
    every answer a 200, none waiting for the forward timeout (forwarded
    requests have a listener of their own, cluster.listen); a client's
    request on that listener is a 400;
  - a lot id used by products on both instances: 409 AMBIGUOUS_LOT on
    both; GET /v1/rejections lists each rejection once on both; GET
    /v1/lots, a location's lots and the expiry list (FEFO) list every lot
    once, in order, page by page;
  - claims: an old claim of another instance published late does not take
    a partition over; a later one does (and is verified: the real owner
    keeps answering for itself); its empty claim (a revocation) leaves it
    known, owning nothing; its tombstone (a clean stop) removes it;
    SIGTERM of an instance removes it from the other's directory.

Exits 0 on success, 1 with the failures, 77 when a prerequisite is
missing (confluent_kafka, the binaries)."""
import importlib.util
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_EXIT = 77
PARTITIONS = 4
CLIENTS = 64
CLIENT_REQUESTS = 20
sys.dont_write_bytecode = True


def exit_if_missing():
    bins = os.environ.get("LOTLINE_BIN", "build/bin")
    missing = [] if importlib.util.find_spec("confluent_kafka") else [
        "confluent_kafka"]
    if not os.access(os.path.join(bins, "lotlined"), os.X_OK):
        missing.append(os.path.join(bins, "lotlined"))
    if not missing:
        return
    if os.environ.get("LOTLINE_TEST_REQUIRE_PREREQS", "") not in ("", "0"):
        print("ERROR: prerequisite missing: %s" % ", ".join(missing))
        sys.exit(1)
    print("SKIPPED: prerequisite missing: %s" % ", ".join(missing))
    sys.exit(SKIP_EXIT)


exit_if_missing()
sys.path.insert(0, HERE)
from confluent_kafka import Producer  # noqa: E402
import cluster_kit as kit  # noqa: E402
import stream_model  # noqa: E402

CHECKS = kit.Checks()
check = CHECKS.check



call = kit.http_call


def partition_of(product):
    return stream_model.partition_of(product, PARTITIONS)


def wait_for(what, cond, timeout_s=20):
    return CHECKS.wait_for(what, cond, timeout_s, every_s=0.2)


def directory(inst):
    status, body = call(inst, "GET", "/v1/cluster")
    return body if status == 200 else None


def owners(inst):
    """{partition: instance id} as inst's directory says."""
    d = directory(inst) or {"instances": []}
    return {p: i["id"] for i in d["instances"] for p in i["partitions"]}


def check_directory(a, b):
    da, db = directory(a), directory(b)
    check(da is not None and db is not None, "GET /v1/cluster answers 200")
    ids = {da["self"], db["self"]}
    check(len(ids) == 2, "each instance has its own id")
    check(da["partitions"] == PARTITIONS, "the directory knows 4 partitions")
    for d in (da, db):
        seen = sorted(p for i in d["instances"] for p in i["partitions"])
        check(seen == list(range(PARTITIONS)),
              "every partition has exactly one owner: %s" % seen)
        check({i["id"] for i in d["instances"]} == ids,
              "both instances are listed")
        check([i["self"] for i in d["instances"]
               if i["id"] == d["self"]] == [True], "self is marked")
    check(owners(a) == owners(b), "both instances agree on the owners")


def products_by_owner(a):
    """Products P-0.. grouped by the id of the instance that owns them."""
    own = owners(a)
    by = {}
    for n in range(40):
        p = "P-%d" % n
        by.setdefault(own[partition_of(p)], []).append(p)
    return by


def check_forwarding(a, b, mine, theirs):
    """mine: a product a owns; theirs: one b owns."""
    for prod in (mine, theirs):
        lot = "L-" + prod
        status, _ = call(b, "POST", "/v1/lots",
                         {"lot_id": lot, "product_id": prod, "name": lot})
        check(status == 201, "POST /v1/lots of %s through b: %d" %
              (prod, status))
        ga = call(a, "GET", "/v1/lots/" + lot)
        gb = call(b, "GET", "/v1/products/%s/lots/%s" % (prod, lot))
        check(ga[0] == 200 and ga == gb,
              "the lot of %s reads the same through both" % prod)
    move = {"product_id": theirs, "lot_id": "L-" + theirs, "quantity": "5",
            "from": {"id": "V", "usage": "SUPPLIER"},
            "to": {"id": "WH", "usage": "INTERNAL"}}
    key = {"Idempotency-Key": "move-once"}
    first = call(a, "POST", "/v1/moves", move, key)
    again = call(b, "POST", "/v1/moves", move, key)
    check(first[0] == 201 and again[0] == 201 and
          first[1]["event_id"] == again[1]["event_id"] == "move-once",
          "a move retried through the other instance: the same outcome")
    st, loc = call(a, "GET", "/v1/lots/L-%s/locations" % theirs)
    check(st == 200 and loc["on_hand"] == "5",
          "the retried move counted once: %s" % loc)
    st, body = call(a, "PATCH", "/v1/lots/L-" + theirs,
                    {"reference": "PO-9", "expected_version": 1})
    check(st == 200 and body["reference"] == "PO-9",
          "PATCH through the non-owner: %d" % st)
    st, body = call(b, "GET", "/v1/products/%s/lots/L-%s" % (theirs, theirs))
    check(body.get("reference") == "PO-9" and body.get("version") == 2,
          "the owner shows the change once: %s" % body)
    fwd = {"Lotline-Forwarded": "1"}
    st, body = call(a, "GET", "/v1/products/%s/lots/L-%s" % (theirs, theirs),
                    headers=fwd)
    check(st == 503 and body["code"] == "UNAVAILABLE",
          "a forwarded request to a non-owner is not forwarded again: %d" % st)
    st, _ = call(b, "GET", "/v1/products/%s/lots/L-%s" % (theirs, theirs),
                 headers=fwd)
    check(st == 200, "a forwarded request to the owner is answered")


def check_many_at_once(a, b, mine, theirs):
    """64 clients at once, each asking one instance for a lot the other
    owns: every request is forwarded, both ways. Each instance serves the
    forwarded requests on a listener of its own (cluster.listen), so its
    API workers waiting for the other instance never leave the other's
    forwards unanswered: every answer is a 200, none waits for the
    forward timeout (8 s)."""
    results = []
    lock = threading.Lock()

    def client(inst, path):
        for _ in range(CLIENT_REQUESTS):
            t = time.time()
            st, _ = call(inst, "GET", path)
            with lock:
                results.append((st, time.time() - t))
    threads = [threading.Thread(target=client, args=(
        (a, "/v1/lots/L-" + theirs) if k % 2 == 0 else
        (b, "/v1/lots/L-" + mine))) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = {}
    for st, _ in results:
        statuses[st] = statuses.get(st, 0) + 1
    slowest = max(s for _, s in results)
    check(statuses == {200: CLIENTS * CLIENT_REQUESTS} and slowest < 8,
          "%d clients forwarding both ways: %s, slowest %.2f s" %
          (CLIENTS, statuses, slowest))
    url = [i["url"] for i in directory(a)["instances"] if i["self"]][0]
    try:
        with urllib.request.urlopen(url + "/v1/lots/L-" + mine, timeout=10):
            st = 200
    except urllib.error.HTTPError as e:
        st = e.code
    check(st == 400, "a client's request on the cluster listener "
          "(%s): 400, %d" % (url, st))


def check_spanning(a, b, mine, theirs):
    for prod in (mine, theirs):
        call(a, "POST", "/v1/lots",
             {"lot_id": "SHARED", "product_id": prod, "name": "S-" + prod})
    for inst in (a, b):
        st, body = call(inst, "GET", "/v1/lots/SHARED/locations")
        check(st == 409 and body["code"] == "AMBIGUOUS_LOT" and
              body["products"] == sorted([mine, theirs]),
              "AMBIGUOUS_LOT across instances on %s: %d" % (inst.name, st))
    for prod in (mine, theirs):
        st, body = call(a, "POST", "/v1/moves", {
            "product_id": prod, "lot_id": "L-" + prod, "quantity": "999",
            "from": {"id": "WH", "usage": "INTERNAL"},
            "to": {"id": "C", "usage": "CUSTOMER"}},
            {"Idempotency-Key": "too-much-" + prod})
        check(st == 422, "an over-delivery of %s is rejected: %d" % (prod, st))
    for inst in (a, b):
        st, body = call(inst, "GET", "/v1/rejections?limit=100")
        ids = sorted(r["event_id"] for r in body.get("rejections", []))
        check(st == 200 and ids == sorted(["too-much-" + mine,
                                           "too-much-" + theirs]),
              "each rejection once through %s: %s" % (inst.name, ids))


def page_through(inst, path):
    """Every (lot_id, product_id) of a paged list, one lot a page."""
    seen, cursor = [], None
    for _ in range(50):
        q = "&cursor=" + urllib.request.quote(cursor, safe="") if cursor \
            else ""
        sep = "&" if "?" in path else "?"
        st, body = call(inst, "GET", path + sep + "limit=1" + q)
        if not check(st == 200, "GET %s: %d" % (path, st)):
            return seen
        seen += [(lot["lot_id"], lot["product_id"]) for lot in body["lots"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    check(False, "%s ends" % path)
    return seen


def check_lists(a, b, mine, theirs):
    """Lists that span products: every owner's lots, each once, in
    (lot_id, product_id) order, through either instance, page by page."""
    call(b, "POST", "/v1/moves", {
        "product_id": mine, "lot_id": "L-" + mine, "quantity": "3",
        "from": {"id": "V", "usage": "SUPPLIER"},
        "to": {"id": "WH", "usage": "INTERNAL"}})
    lots = sorted([("L-" + mine, mine), ("L-" + theirs, theirs),
                   ("SHARED", mine), ("SHARED", theirs)])
    for inst in (a, b):
        got = page_through(inst, "/v1/lots")
        check(got == lots, "GET /v1/lots through %s: %s" % (inst.name, got))
        got = page_through(inst, "/v1/locations/WH/lots")
        want = sorted([("L-" + mine, mine), ("L-" + theirs, theirs)])
        check(got == want, "GET /v1/locations/WH/lots through %s: %s" %
              (inst.name, got))
    check_fefo(a, b, mine, theirs)


def check_fefo(a, b, mine, theirs):
    """The expiry list (FEFO): the lot that must leave stock first comes
    first, whichever instance owns it; lots without dates last."""
    for prod, exp in ((mine, "2027-05-01T00:00:00Z"),
                      (theirs, "2027-03-01T00:00:00Z")):
        call(a, "POST", "/v1/lots", {"lot_id": "E-" + prod,
                                     "product_id": prod, "name": "E",
                                     "expiration_at": exp})
        st, _ = call(b, "POST", "/v1/moves", {
            "product_id": prod, "lot_id": "E-" + prod, "quantity": "1",
            "from": {"id": "V", "usage": "SUPPLIER"},
            "to": {"id": "WH", "usage": "INTERNAL"}})
        check(st == 201, "stock of E-%s received: %d" % (prod, st))
    want = [("E-" + theirs, theirs), ("E-" + mine, mine)] + sorted(
        [("L-" + mine, mine), ("L-" + theirs, theirs)])
    for inst in (a, b):
        got = page_through(inst, "/v1/lots?location=WH")
        check(got == want, "FEFO at WH through %s: %s" % (inst.name, got))
        got = page_through(inst, "/v1/lots?expiring_before="
                           "2027-04-01T00:00:00Z")
        check(got == want[:1], "FEFO before April through %s: %s" %
              (inst.name, got))


def produce_claim(brokers, instance, value, timestamp_ms):
    p = Producer({"bootstrap.servers": brokers})
    p.produce("lots.members", key=instance, value=value,
              timestamp=timestamp_ms)
    p.flush(10)


def check_claims(cluster, a, b, theirs):
    """A ghost instance claims b's partition: first with an old claim (it
    loses), then with a new one (it wins in the directory, but the real
    owner still answers for itself), then it stops cleanly."""
    p = partition_of(theirs)
    ghost = {"id": "ghost", "url": "http://127.0.0.1:9",
             "partitions": [p], "partition_count": PARTITIONS,
             "generation": 1}
    path = "/v1/products/%s/lots/L-%s" % (theirs, theirs)
    produce_claim(cluster.brokers, "ghost", json.dumps(ghost), 1000)
    time.sleep(2)
    check(owners(a)[p] == directory(b)["self"],
          "an old claim published late does not take partition %d" % p)
    check(call(a, "GET", path)[0] == 200, "reads still go to the owner")
    produce_claim(cluster.brokers, "ghost", json.dumps(ghost),
                  int(time.time() * 1000) + 1000)
    wait_for("a later claim takes partition %d in the directory" % p,
             lambda: owners(a).get(p) == "ghost")
    check(call(b, "GET", path)[0] == 200,
          "the real owner still answers for what its consumer holds")
    st, _ = call(a, "GET", path)
    check(st == 503, "a claimed owner that cannot answer: 503, %d" % st)
    ghost["partitions"] = []
    produce_claim(cluster.brokers, "ghost", json.dumps(ghost),
                  int(time.time() * 1000) + 2000)
    wait_for("the ghost's empty claim leaves it known, owning nothing",
             lambda: "ghost" not in owners(a).values() and "ghost" in
             {i["id"] for i in directory(a)["instances"]})
    produce_claim(cluster.brokers, "ghost", None,
                  int(time.time() * 1000) + 3000)
    wait_for("the ghost's tombstone (a clean stop) removes it",
             lambda: "ghost" not in {i["id"] for i in
                                     directory(a)["instances"]})
    wait_for("the partition is the real owner's again",
             lambda: call(a, "GET", path)[0] == 200)


def check_clean_stop(a, b):
    b_id = directory(b)["self"]
    b.expected_down = True
    rc = b.proc.stop()
    check(rc == 0, "SIGTERM stops b with exit 0")
    wait_for("a's directory forgets b after its clean stop",
             lambda: b_id not in {i["id"] for i in
                                  (directory(a) or {"instances": []})
                                  ["instances"]})
    wait_for("a owns every partition again",
             lambda: sorted(owners(a)) == list(range(PARTITIONS)) and
             set(owners(a).values()) == {directory(a)["self"]})


def main():
    cluster = kit.Cluster(2, partitions=PARTITIONS, tag="directory")
    cluster.start()
    a, b = cluster.instances
    wait_for("both instances claim partitions",
             lambda: len(set(owners(a).values())) == 2 and
             owners(a) == owners(b))
    check_directory(a, b)
    by = products_by_owner(a)
    mine = by[directory(a)["self"]][0]
    theirs = by[directory(b)["self"]][0]
    check_forwarding(a, b, mine, theirs)
    check_many_at_once(a, b, mine, theirs)
    check_spanning(a, b, mine, theirs)
    check_lists(a, b, mine, theirs)
    check_claims(cluster, a, b, theirs)
    check_clean_stop(a, b)
    cluster.stop_all()
    return CHECKS.verdict(cluster)


if __name__ == "__main__":
    sys.exit(main())
