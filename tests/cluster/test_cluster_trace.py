#!/usr/bin/python3
"""Trace and recall in a cluster (docs/traceability.md, "In a cluster";
services/http/api_trace_cluster.c): three `lotlined all` instances of one
group, and a single instance on a broker of its own, receive the same
writes: a three-level chain flour -> dough -> bread over products that
murmur2 puts on partitions owned by at least two (if the ids allow it,
three) different instances, with a second component, a lot consumed before
its product is declared and after, a rework (a lot consumed and produced
under one reference), two references between the same two lots and
deliveries to customers. Then, through EVERY instance of the cluster:

  - GET /v1/lots/{lot_id}/trace and /v1/products/{p}/lots/{l}/trace,
    downstream and upstream, with and without a depth limit, give the
    single instance's JSON (same tree, same order, same links and
    quantities, same deliveries in the same order);
  - `lotline recall LOT --format json --api <instance>` prints the single
    instance's report;
  - GET /v1/cluster/genealogy?reference=R: each instance answers for the
    partitions it owns, together every partition once; the per-lot form is
    503 on an instance that does not own the lot;
  - an owner that does not answer (stopped with SIGSTOP) makes the trace
    503 UNAVAILABLE, never a partial tree;
  - a location's balance (GET /v1/balance) and its lots as of a time give
    the single instance's JSON, gathered from every owner; a log position
    as their cut is refused (400) in the cluster.

A delivery's "position" is the position in the log of the instance that
decided it (each instance has its own log, docs/cluster-design.md,
decision 3), so it is compared between the instances of the cluster (all
answer the owner's) but left out against the single instance.

Exits 0 on success, 1 with the failures, 77 when a prerequisite is
missing (the binaries, avro, confluent_kafka)."""
import copy
import decimal
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_EXIT = 77
PARTITIONS = 6
SETTLE_S = 20
sys.dont_write_bytecode = True

BIN = os.environ.get("LOTLINE_BIN", "build/bin")
MISSING = [m for m in ("avro", "confluent_kafka")
           if importlib.util.find_spec(m) is None]
MISSING += [os.path.join(BIN, b) for b in ("lotlined", "lotline")
            if not os.access(os.path.join(BIN, b), os.X_OK)]
if MISSING:
    if os.environ.get("LOTLINE_TEST_REQUIRE_PREREQS", "") not in ("", "0"):
        print("ERROR: prerequisite missing: %s" % ", ".join(MISSING))
        sys.exit(1)
    print("SKIPPED: prerequisite missing: %s" % ", ".join(MISSING))
    sys.exit(SKIP_EXIT)

sys.path.insert(0, HERE)
import cluster_kit as kit  # noqa: E402
import stream_model  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

CHECKS = kit.Checks()
check = CHECKS.check



call = kit.http_call


def partition_of(product):
    return stream_model.partition_of(product, PARTITIONS)


def owners(inst):
    """{partition: instance id} as inst's directory says."""
    st, d = call(inst, "GET", "/v1/cluster")
    if st != 200:
        return {}
    return {p: i["id"] for i in d["instances"] for p in i["partitions"]}


def wait_for(what, cond, timeout_s=30):
    return CHECKS.wait_for(what, cond, timeout_s, every_s=0.2)


def pick_products(own):
    """FLOUR-n, DOUGH-n, BREAD-n (and SALT-n) with flour, dough and bread
    owned by as many different instances as the candidates allow (three
    with three instances)."""
    def first(prefix, avoid):
        names = ["%s-%d" % (prefix, n) for n in range(64)]
        for name in names:
            if own[partition_of(name)] not in avoid:
                return name
        return names[0]
    flour = first("FLOUR", set())
    dough = first("DOUGH", {own[partition_of(flour)]})
    bread = first("BREAD", {own[partition_of(flour)],
                            own[partition_of(dough)]})
    salt = first("SALT", {own[partition_of(flour)]})
    return flour, dough, bread, salt


T0_MS = stream_model.T0_MS
SUP = ("Vendors/Mill", "SUPPLIER")
WH = ("WH/Stock", "INTERNAL")
PROD = ("Production", "PRODUCTION")
ACME = ("Customers/ACME", "CUSTOMER")
BETA = ("Customers/BETA", "CUSTOMER")


class Events:
    """The records of lots.inbound, each with its own event time and Kafka
    timestamp, so both sides get the same bytes and the same recorded_at."""

    def __init__(self):
        self.wire = stream_model.Wire(os.environ.get("LOTLINE_SCHEMAS",
                                                     "schemas"))
        self.records = []     # (product, value, timestamp_ms)
        self.count = {}       # lot_id -> accepted events of the lot

    def _add(self, record, product, lot_id, datum):
        ms = T0_MS + 1000 * (len(self.records) + 1)
        datum = dict(datum, lot_id=lot_id, product_id=product,
                     event_id="tr-%03d" % len(self.records),
                     occurred_at=stream_model.at(ms))
        self.records.append((product, self.wire.encode(record, datum), ms))
        self.count[lot_id] = self.count.get(lot_id, 0) + 1

    def create(self, product, lot_id):
        self._add("LotCreated", product, lot_id, {
            "name": "N-" + lot_id, "tracking": "LOT", "reference": None,
            "description": None, "expiration_at": None, "use_by_at": None,
            "removal_at": None, "alert_at": None})

    def move(self, product, lot_id, qty, frm, to, ref=None, partner=None):
        self._add("StockMoved", product, lot_id, {
            "lot_name": None,
            "quantity": decimal.Decimal(qty).quantize(stream_model.SCALE),
            "from": {"id": frm[0], "usage": frm[1]},
            "to": {"id": to[0], "usage": to[1]}, "reference": ref,
            "partner": partner})


def chain(flour, dough, bread, salt):
    ev = Events()
    for product, lot_id in ((flour, "F1"), (flour, "F2"), (salt, "S1"),
                            (dough, "D1"), (bread, "B1"), (bread, "B2")):
        ev.create(product, lot_id)
    ev.move(flour, "F1", "100", SUP, WH)
    ev.move(flour, "F2", "50", SUP, WH)
    ev.move(salt, "S1", "10", SUP, WH)
    # MO-1: flour and salt into dough; F1 both before and after D1.
    ev.move(flour, "F1", "60", WH, PROD, "MO-1")
    ev.move(flour, "F2", "20", WH, PROD, "MO-1")
    ev.move(salt, "S1", "2", WH, PROD, "MO-1")
    ev.move(dough, "D1", "80", PROD, WH, "MO-1")
    ev.move(flour, "F1", "10.5", WH, PROD, "MO-1")
    # MO-2: dough into bread, D1 reworked (out again under MO-2).
    ev.move(dough, "D1", "50", WH, PROD, "MO-2")
    ev.move(bread, "B1", "40", PROD, WH, "MO-2")
    ev.move(bread, "B2", "30", PROD, WH, "MO-2")
    ev.move(dough, "D1", "5", PROD, WH, "MO-2")
    # MO-3: D1 into B1 again, a second link between the two.
    ev.move(dough, "D1", "20", WH, PROD, "MO-3")
    ev.move(bread, "B1", "15", PROD, WH, "MO-3")
    # Deliveries to customers.
    ev.move(bread, "B1", "30", WH, ACME, "SO-1",
            {"id": "C-ACME", "name": "Acme Ltd"})
    ev.move(bread, "B2", "10", WH, BETA, "SO-2")
    ev.move(bread, "B1", "5", WH, BETA, "SO-3")
    ev.move(flour, "F2", "1", WH, ACME, "SO-4")
    return ev


def produce(cluster, events):
    p = Producer({"bootstrap.servers": cluster.brokers,
                  "enable.idempotence": True, "acks": "all"})
    for product, value, ms in events.records:
        p.produce("lots.inbound", key=product.encode(), value=value,
                  partition=partition_of(product), timestamp=ms)
    check(p.flush(30) == 0, "the events reach the broker of %s" %
          cluster.instances[0].name)


def settled(inst, events):
    """Every lot's history complete, read through inst."""
    for lot_id, n in events.count.items():
        st, body = call(inst, "GET", "/v1/lots/%s/moves?limit=100" % lot_id)
        if st != 200 or len(body["events"]) != n:
            return False
    return True


def queries(flour, dough, bread):
    q = []
    for lot_id, product in (("F1", flour), ("F2", flour), ("D1", dough),
                            ("B1", bread), ("B2", bread)):
        for direction in ("downstream", "upstream"):
            q.append("/v1/lots/%s/trace?direction=%s" % (lot_id, direction))
        q.append("/v1/products/%s/lots/%s/trace?direction=upstream"
                 % (product, lot_id))
    q.append("/v1/lots/F1/trace?depth=1")
    q.append("/v1/lots/F1/trace?depth=2")
    q.append("/v1/lots/B1/trace?direction=upstream&depth=1")
    q.append("/v1/products/%s/lots/F1/trace" % flour)
    q.append("/v1/lots/NOPE/trace")
    return q


def without_positions(answer):
    """The answer with each delivery's position left out (a position is
    one instance's log's)."""
    a = copy.deepcopy(answer)
    if isinstance(a, dict):
        for d in a.get("deliveries", []) or []:
            d.pop("position", None)
    return a


def check_traces(cluster, single, paths):
    for path in paths:
        want = call(single, "GET", path)
        answers = {}

        def same():
            for inst in cluster.instances:
                answers[inst.name] = call(inst, "GET", path)
            return all(a[0] == want[0] and
                       without_positions(a[1]) == without_positions(want[1])
                       for a in answers.values())
        ok = wait_for("%s: every instance equals the single one" % path,
                      same, SETTLE_S)
        if not ok:
            print("  single: %s" % json.dumps(want))
            for name, a in answers.items():
                print("  %s: %s" % (name, json.dumps(a)))
            continue
        firsts = list(answers.values())
        check(all(a == firsts[0] for a in firsts),
              "%s: %d through every instance, positions too" % (path, want[0]))


def recall(inst, lot_id):
    out = subprocess.run(
        [os.path.join(BIN, "lotline"), "recall", lot_id, "--format", "json",
         "--api", inst.http], capture_output=True, text=True, timeout=30,
        env=kit.child_env())
    try:
        return out.returncode, json.loads(out.stdout)
    except ValueError:
        return out.returncode, out.stdout + out.stderr


def strip_recall(report):
    r = copy.deepcopy(report)
    if isinstance(r, dict):
        for d in r.get("deliveries", []) or []:
            d.pop("position", None)
    return r


def check_recalls(cluster, single):
    for lot_id in ("F1", "S1", "D1"):
        want = recall(single, lot_id)
        check(want[0] == 0 and isinstance(want[1], dict) and
              len(want[1].get("deliveries", [])) > 0,
              "lotline recall %s on the single instance: %s" % (lot_id,
                                                                want[0]))
        for inst in cluster.instances:
            got = recall(inst, lot_id)
            check(got[0] == 0 and strip_recall(got[1]) == strip_recall(want[1]),
                  "lotline recall %s through %s equals the single one" %
                  (lot_id, inst.name))
            if got[0] != 0 or strip_recall(got[1]) != strip_recall(want[1]):
                print("  want %s\n  got  %s" % (json.dumps(want[1]),
                                                json.dumps(got[1])))


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def report_queries(events):
    """A location's balance and its lots as of a moment, at times picked
    from the records' timestamps (the log clock is the same on both
    sides)."""
    stamps = [ms for _, _, ms in events.records]
    mid, late = iso(stamps[len(stamps) // 2]), iso(stamps[-3])
    end = iso(stamps[-1] + 60000)
    return ["/v1/balance?location=WH/Stock",
            "/v1/balance?location=WH/Stock&from=%s&to=%s" % (mid, late),
            "/v1/balance?location=Customers&children=1&to=%s" % late,
            "/v1/balance?location=Production&from=%s" % mid,
            "/v1/locations/WH%%2FStock/lots?as_of=%s" % mid,
            "/v1/locations/WH%%2FStock/lots?as_of=%s" % end,
            "/v1/locations/Customers/lots?children=1&as_of=%s" % late]


def check_reports(cluster, single, events):
    """Balances and as_of over a location: every instance of the cluster
    gathers the single instance's answer; a log position, one instance's,
    is refused there."""
    for path in report_queries(events):
        want = call(single, "GET", path)
        got = {i.name: call(i, "GET", path) for i in cluster.instances}
        check(want[0] == 200 and len(want[1]["lots"]) > 0 and
              all(g == want for g in got.values()),
              "%s: %d with %d lots through every instance" %
              (path, want[0], len(want[1].get("lots", []))))
        if not all(g == want for g in got.values()):
            print("  single: %s" % json.dumps(want))
            for name, g in got.items():
                print("  %s: %s" % (name, json.dumps(g)))
    for path in ("/v1/balance?location=WH/Stock&from=3",
                 "/v1/locations/WH%2FStock/lots?as_of=5"):
        st = {i.name: call(i, "GET", path)[0] for i in cluster.instances}
        check(call(single, "GET", path)[0] == 200 and
              set(st.values()) == {400},
              "%s: 200 on a single instance, 400 in the cluster %s" %
              (path, st))


def check_internal(cluster, flour):
    seen = []
    rows = set()
    for inst in cluster.instances:
        st, body = call(inst, "GET", "/v1/cluster/genealogy?reference=MO-1")
        if not check(st == 200, "GET /v1/cluster/genealogy?reference=MO-1 on "
                     "%s: %s" % (inst.name, st)):
            return
        seen += body["partitions"]
        rows |= {(r["product_id"], r["lot_id"], r["quantity_micro"])
                 for r in body["consumed"]}
    check(sorted(seen) == list(range(PARTITIONS)),
          "the owners' answers cover every partition once: %s" % sorted(seen))
    check(("%s" % flour, "F1", 70500000) in rows and len(rows) == 3,
          "MO-1 consumed F1 (70.5), F2 and S1: %s" % sorted(rows))
    own = owners(cluster.instances[0])
    ids = {}
    for inst in cluster.instances:
        ids[inst.name] = call(inst, "GET", "/v1/cluster")[1]["self"]
    for inst in cluster.instances:
        st, body = call(inst, "GET", "/v1/cluster/genealogy?product_id=%s"
                        "&lot_id=F1" % flour)
        mine = own[partition_of(flour)] == ids[inst.name]
        check(st == (200 if mine else 503),
              "the facts of F1 on %s (%s): %s" % (
                  inst.name, "owner" if mine else "not the owner", st))
    st, _ = call(cluster.instances[0], "GET", "/v1/cluster/genealogy")
    check(st == 400, "neither reference nor a lot: 400 (%s)" % st)


def check_unanswered(cluster, flour, dough, bread):
    """An owner that does not answer makes the trace 503, never a partial
    tree: the owner of the bread (or the dough) stops (SIGSTOP) while the
    flour's owner answers a downstream trace of F1."""
    own = owners(cluster.instances[0])
    by_id = {call(i, "GET", "/v1/cluster")[1]["self"]: i
             for i in cluster.instances}
    asker = by_id[own[partition_of(flour)]]
    victim = next((by_id[own[partition_of(p)]] for p in (bread, dough)
                   if by_id[own[partition_of(p)]] is not asker), None)
    if not check(victim is not None, "an owner other than the flour's"):
        return
    path = "/v1/products/%s/lots/F1/trace" % flour
    victim.proc.signal(signal.SIGSTOP)
    try:
        st, body = call(asker, "GET", path)
    finally:
        victim.proc.signal(signal.SIGCONT)
    check(st == 503 and body.get("code") == "UNAVAILABLE",
          "%s while %s does not answer: %s %s" % (path, victim.name, st,
                                                  body))
    wait_for("the trace answers again once %s is back" % victim.name,
             lambda: call(asker, "GET", path)[0] == 200)


def main():
    cluster = kit.Cluster(3, partitions=PARTITIONS, tag="trace")
    single = kit.Cluster(1, partitions=PARTITIONS, tag="trace1")
    cluster.start()
    single.start()
    a = cluster.instances[0]
    wait_for("the three instances claim partitions and agree",
             lambda: len(set(owners(a).values())) == 3 and
             all(owners(i) == owners(a) for i in cluster.instances) and
             sorted(owners(a)) == list(range(PARTITIONS)))
    own = owners(a)
    flour, dough, bread, salt = pick_products(own)
    spread = {own[partition_of(p)] for p in (flour, dough, bread)}
    check(len(spread) >= 2, "flour %s, dough %s, bread %s on %d instances" %
          (flour, dough, bread, len(spread)))
    events = chain(flour, dough, bread, salt)
    produce(cluster, events)
    produce(single, events)
    for inst in cluster.instances + single.instances:
        wait_for("every event applied, read through %s" % inst.name,
                 lambda: settled(inst, events), 60)
    check_traces(cluster, single.instances[0], queries(flour, dough, bread))
    check_recalls(cluster, single.instances[0])
    check_reports(cluster, single.instances[0], events)
    check_internal(cluster, flour)
    check_unanswered(cluster, flour, dough, bread)
    rcs = cluster.stop_all()
    rcs.update(single.stop_all())
    check(all(rc == 0 for rc in rcs.values()), "clean stops: %s" % rcs)
    return CHECKS.verdict(cluster)


if __name__ == "__main__":
    sys.exit(main())
