#!/usr/bin/python3
"""Reads every instance answers alike: the date alerts and the rejections'
pages (docs/api.md, "Running as a cluster"; services/alerts,
services/http/api_rejections.c), on three `lotlined all` instances of one
group:

  - lots of products spread over every instance's partitions, with dates
    in the past and stock: each instance's worker publishes the alerts of
    its own lots; GET /v1/alerts, followed page by page with next_since
    (a cursor over lots.alerts), lists on every instance the same alerts
    in the same order, each exactly once, each with its place in the
    topic; an integer since is a 400 there; a second record of an alert
    (as two owners can publish during a rebalance) is not listed again;
  - over-deliveries rejected on every partition: GET /v1/rejections paged
    with next_before (a few rows a page) lists on every instance exactly
    the expected rejections, once each, newest first;
  - one instance killed (SIGKILL): the others still list every alert, its
    own included, and a cursor taken before the kill follows on with
    nothing lost or repeated; once its partitions have new owners the
    rejections page through to the same set again;
  - restarted on its data, it reads lots.alerts again from the start and
    lists every alert once, like the others.

Exits 0 on success, 1 with the failures, 77 when a prerequisite is
missing (confluent_kafka, avro, the binaries)."""
import calendar
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PARTITIONS = 4
PRODUCTS = 8
OVERDELIVERIES = 3  # per product
DAY_MS = 86400000
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import cluster_checks as checks  # noqa: E402

checks.exit_if_missing()
import cluster_kit as kit  # noqa: E402
import stream_model  # noqa: E402

CHECKS = kit.Checks()
check = CHECKS.check
call = kit.http_call



def wait_for(what, cond, timeout_s=30):
    return CHECKS.wait_for(what, cond, timeout_s, every_s=0.3)


def rfc3339(ms):
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return base + (".%03dZ" % (ms % 1000) if ms % 1000 else "Z")


def owners(inst):
    st, body = call(inst, "GET", "/v1/cluster")
    if st != 200:
        return {}
    return {p: i["id"] for i in body["instances"] for p in i["partitions"]}


def spread(c):
    """Every partition owned, by three instances that agree."""
    seen = [owners(i) for i in c.live()]
    return all(len(o) == PARTITIONS and o == seen[0] for o in seen) and \
        len(set(seen[0].values())) == len(c.live())


# ---- the data ----

def make_lots(a, now_ms):
    """Each product one lot with stock whose alert and expiration dates
    passed; the expected alerts as (product, lot, kind, at)."""
    want = set()
    for n in range(PRODUCTS):
        prod, lot = "P-%d" % n, "L-%d" % n
        alert_at, expires = now_ms - 2 * DAY_MS, now_ms - DAY_MS
        st, body = call(a, "POST", "/v1/lots", {
            "lot_id": lot, "product_id": prod, "name": lot,
            "alert_at": rfc3339(alert_at), "expiration_at": rfc3339(expires)})
        check(st == 201, "lot %s of %s created: %d %s" % (lot, prod, st, body))
        st, body = call(a, "POST", "/v1/moves", {
            "product_id": prod, "lot_id": lot, "quantity": "5",
            "from": {"id": "V", "usage": "SUPPLIER"},
            "to": {"id": "WH", "usage": "INTERNAL"}})
        check(st == 201, "stock of %s received: %d %s" % (lot, st, body))
        want |= {(prod, lot, "ALERT", rfc3339(alert_at)),
                 (prod, lot, "EXPIRATION", rfc3339(expires))}
    return want


def reject_some(c):
    """Over-deliveries of every product through every instance in turn;
    their event ids."""
    ids = set()
    for n in range(PRODUCTS):
        for k in range(OVERDELIVERIES):
            eid = "too-much-%d-%d" % (n, k)
            inst = c.instances[(n + k) % len(c.instances)]
            st, _ = call(inst, "POST", "/v1/moves", {
                "product_id": "P-%d" % n, "lot_id": "L-%d" % n,
                "quantity": "999", "from": {"id": "WH", "usage": "INTERNAL"},
                "to": {"id": "C", "usage": "CUSTOMER"}},
                {"Idempotency-Key": eid})
            check(st == 422, "over-delivery %s rejected: %d" % (eid, st))
            ids.add(eid)
    return ids


# ---- alerts ----

def follow_alerts(inst, since=None, limit=3):
    """Every alert from since on, page by page: (rows, next_since), or
    (None, None) when an answer is not a 200."""
    rows = []
    for _ in range(200):
        q = "/v1/alerts?limit=%d" % limit
        if since is not None:
            q += "&since=" + urllib.parse.quote(since, safe="")
        st, body = call(inst, "GET", q)
        if st != 200:
            return None, None
        rows += body["alerts"]
        if not body["alerts"]:
            return rows, body["next_since"]
        since = body["next_since"]
    return None, None


def alert_of(row):
    return (row["product_id"], row["lot_id"], row["kind"], row["at"])


def lists_all(inst, want):
    rows, _ = follow_alerts(inst)
    return rows is not None and sorted(map(alert_of, rows)) == sorted(want)


def check_alerts(c, want):
    for inst in c.live():
        wait_for("%s lists the %d alerts" % (inst.name, len(want)),
                 lambda inst=inst: lists_all(inst, want))
    answers = {i.name: follow_alerts(i)[0] for i in c.live()}
    for name, rows in answers.items():
        got = [alert_of(r) for r in rows or []]
        check(len(got) == len(set(got)) == len(want),
              "%s lists each alert exactly once (%d)" % (name, len(got)))
        places = [(r.get("partition"), r.get("offset")) for r in rows or []]
        check(None not in sum(places, ()) and len(set(places)) == len(got),
              "%s gives each alert its place in lots.alerts" % name)
        check(all(r["sent"] and r["on_hand"] == "5" for r in rows or []),
              "%s: every alert sent, with the stock seen (5)" % name)
    first = list(answers.values())[0]
    check(all(rows == first for rows in answers.values()),
          "every instance lists the same alerts in the same order")
    inst = c.live()[0]
    st, body = call(inst, "GET", "/v1/alerts?since=3")
    check(st == 400 and "next_since" in body.get("message", ""),
          "an integer since is a 400 in a cluster of several: %d" % st)
    st, body = call(inst, "GET", "/v1/alerts?since=0:1,0:2")
    check(st == 400, "a malformed cursor is a 400: %d" % st)


def check_duplicate_record(c, want):
    """Publish a copy of one alert's record, as a second owner would:
    every instance still lists it once, from its first record."""
    records = checks.read_topic(c.brokers, "lots.alerts")
    check(len(records) == len(want),
          "lots.alerts holds one record per alert: %d" % len(records))
    first = records[0]
    producer = checks.new_producer(c.brokers)
    producer.produce("lots.alerts", key=first.key, value=first.value)
    producer.flush(10)
    wait_for("the copy is in lots.alerts", lambda: len(
        checks.read_topic(c.brokers, "lots.alerts")) == len(want) + 1)
    time.sleep(2)  # every instance's worker follows the topic each second
    check_alerts(c, want)
    rows, _ = follow_alerts(c.instances[0])
    places = {(r["partition"], r["offset"]) for r in rows or []}
    check((first.partition, first.offset) in places,
          "the alert is listed from its first record")


# ---- rejections ----

def time_ms(text):
    whole, _, frac = text.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + (int(frac.ljust(3, "0")) if frac else 0)


def rejection_key(r):
    return (time_ms(r["rejected_at"]), r["partition"], r["offset"])


def page_rejections(inst, limit=4):
    """Every rejection page by page with next_before; None on a non-200."""
    rows, before = [], None
    for _ in range(100):
        q = "/v1/rejections?limit=%d" % limit
        if before is not None:
            q += "&before=" + urllib.parse.quote(before, safe="")
        st, body = call(inst, "GET", q)
        if st != 200:
            return None
        rows += body["rejections"]
        before = body["next_before"]
        if before is None:
            return rows
    return None


def pages_right(inst, ids):
    rows = page_rejections(inst)
    return rows is not None and sorted(r["event_id"] for r in rows) == \
        sorted(ids)


def check_rejections(c, ids):
    for inst in c.live():
        wait_for("%s pages through the %d rejections" % (inst.name, len(ids)),
                 lambda inst=inst: pages_right(inst, ids))
        rows = page_rejections(inst) or []
        got = [r["event_id"] for r in rows]
        check(len(got) == len(set(got)), "%s: each rejection once" % inst.name)
        keys = [rejection_key(r) for r in rows]
        check(keys == sorted(keys, reverse=True),
              "%s: newest first (rejected_at, partition, offset)" % inst.name)


# ---- the kill ----

def check_after_kill(c, want, ids):
    survivor, victim = c.instances[0], c.instances[2]
    st, body = call(victim, "GET", "/v1/cluster")
    theirs = {p for i in body["instances"] if i["self"]
              for p in i["partitions"]} if st == 200 else set()
    published = {w for w in want
                 if stream_model.partition_of(w[0], PARTITIONS) in theirs}
    check(published, "%s published alerts of its own: %d" %
          (victim.name, len(published)))
    st, body = call(survivor, "GET", "/v1/alerts?limit=%d" % (len(want) // 2))
    check(st == 200, "a first page of alerts: %d" % st)
    since = body["next_since"]
    mine = {alert_of(r) for r in body["alerts"]}
    c.kill9(2)
    rows, _ = follow_alerts(survivor, since=since)
    rest = [alert_of(r) for r in rows or []]
    check(rows is not None and not mine & set(rest) and
          sorted(mine | set(rest)) == sorted(want) and
          len(rest) == len(set(rest)),
          "a cursor taken before %s died follows on: nothing lost or "
          "repeated" % victim.name)
    check_alerts(c, want)
    wait_for("the killed instance's partitions have new owners",
             lambda: spread(c))
    check_rejections(c, ids)


def main():
    cluster = kit.Cluster(3, partitions=PARTITIONS, tag="alerts",
                          settings=["kafka.session.timeout.ms=6000"])
    cluster.start()
    wait_for("three instances own the partitions", lambda: spread(cluster))
    a = cluster.instances[0]
    want = make_lots(a, int(time.time() * 1000))
    ids = reject_some(cluster)
    check_alerts(cluster, want)
    check_duplicate_record(cluster, want)
    check_rejections(cluster, ids)
    check_after_kill(cluster, want, ids)
    cluster.restart(2)
    cluster.wait_ready([cluster.instances[2]])
    check_alerts(cluster, want)
    cluster.stop_all()
    return CHECKS.verdict(cluster)


if __name__ == "__main__":
    sys.exit(main())
