#!/usr/bin/python3
"""The model-based rules test against a cluster (tests/cluster/README.md).

`lotline_model_stream` draws the stream of the model-based rules test
(tests/rules/rules_model_gen.c, in its cluster world: three dozen products
at a time, every rule code) and writes each event encoded for lots.inbound
with the outcome its reference model predicts. Three `lotlined all`
instances share one consumer group on one embedded broker; the stream is
sent while they run, keyed by product_id with the murmur2 partitioner, and
one instance is killed with SIGKILL mid-stream and restarted later
(`--kills 2`: twice, two instances in turn). Every rule is local to one
product, so the outcomes do not depend on how the partitions interleave.

Once the cluster has settled, through EVERY instance's API:

  - every accepted event is in its lot's history (`GET
    /v1/products/{p}/lots/{l}/moves`), in the model's order, and nothing
    else is;
  - every lot (`GET /v1/products/{p}/lots/{l}` and `/locations?all=1`):
    name, tracking, version, hold, unit, on hand and the quantity at every
    location (virtual ones included) equal the model's; `GET /v1/lots`
    lists exactly the model's lots;
  - every rejected event is on lots.rejected with the model's code, under
    its own record (partition, offset), and nothing else is (a repeat
    after a kill or a takeover is byte for byte the same record);
  - `GET /v1/rejections`, paged with `next_before` after the stream, lists
    on every live instance every expected rejection exactly once with its
    code, and nothing else; the test also reads it all along the stream, every
    live instance in turn (the cluster's merged answer, and each
    instance's own partitions): every row listed must be a record the
    model rejects, with its code, never twice in one answer; after the
    stream every instance's merged answer is the same. How many
    rejections each instance listed is printed, and how many scrolled
    past the window unseen (a failover's catch-up decides a backlog at
    once): those must be on lots.rejected;
  - no instance died that the test did not kill; SIGTERM stops each one
    with exit 0; `lotline verify` passes on every data directory.

Exits 0 when everything matches, 1 with the first 20 mismatches in full
and the count of every kind per instance, 77 when a prerequisite is
missing (a failure under LOTLINE_TEST_REQUIRE_PREREQS=1). The seed is
printed; --seed replays the stream.
"""
import argparse
import concurrent.futures
import decimal
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster_checks as cc  # noqa: E402
cc.exit_if_missing()
import cluster_kit as kit  # noqa: E402
from confluent_kafka import (OFFSET_BEGINNING, Consumer,  # noqa: E402
                             TopicPartition)

say = kit.say
SHOW_IN_FULL = 20
MICRO = decimal.Decimal(1000000)
LIST_LIMIT = 1000              # the API's largest page
POLL_GAP_S = 0.3               # between two rounds of rejection reads
PARTITION_BYTES_MAX = 4 << 20  # the embedded broker keeps about 5 MB
FORWARDED = {"Lotline-Forwarded": "1"}   # answer for your own partitions
TOPIC_WAIT_S = 60              # for the outboxes to reach lots.rejected
# Every outcome the stream must hold, as in test_rules_model: each rule
# code (LOT_PRODUCT_MISMATCH cannot happen any more; the wire's codes
# need bytes the generator does not make), acceptance, redelivery.
OUTCOMES = ("OK", "DUPLICATE", "MISSING_FIELD", "INVALID_FIELD",
            "DUPLICATE_LOT", "LOT_ID_TAKEN", "TRACKING_MISMATCH",
            "UNKNOWN_LOT", "VERSION_CONFLICT", "PRODUCT_LOCKED",
            "INVALID_QUANTITY", "SAME_LOCATION", "LOCATION_USAGE_CONFLICT",
            "SERIAL_QUANTITY", "SERIAL_NOT_AT_SOURCE",
            "SERIAL_ALREADY_IN_STOCK", "INSUFFICIENT_STOCK", "INVALID_DATES",
            "EXPIRED_LOT", "EVENT_ID_REUSED", "LOT_ON_HOLD", "UOM_MISMATCH")
OUTCOMES_FROM_EVENTS = 5000    # a shorter stream may miss a rare one


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--events", type=int, default=6000)
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the stream (default: from the clock)")
    p.add_argument("--duration", type=float, default=30.0,
                   help="seconds over which the stream is sent")
    p.add_argument("--kills", type=int, default=1,
                   help="SIGKILLs mid-stream, each followed by a restart")
    p.add_argument("--partitions", type=int, default=12)
    p.add_argument("--workers", type=int, default=4,
                   help="parallel requests of the final checks")
    p.add_argument("--settle-timeout", type=float, default=180.0)
    p.add_argument("--quiet-s", type=float, default=30.0)
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    a = p.parse_args()
    if a.instances < 2 and a.kills:
        p.error("a kill needs at least 2 instances")
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 48)
    return a


def exit_if_no_tool():
    tool = os.path.join(kit.BIN, "lotline_model_stream")
    if os.access(tool, os.X_OK):
        return tool
    if os.environ.get("LOTLINE_TEST_REQUIRE_PREREQS", "") not in ("", "0"):
        print("ERROR: prerequisite missing: %s" % tool)
        sys.exit(1)
    print("SKIPPED: prerequisite missing: %s" % tool)
    sys.exit(cc.SKIP_EXIT)


# ---- the stream and what the model expects ----

class Record:
    """One record for lots.inbound: what the cluster tests' Feeder sends,
    plus the model's outcome and, once delivered, its offset."""
    __slots__ = ("product", "value", "event_id", "partition", "expect",
                 "lot", "type", "offset")

    def __init__(self, line):
        self.product, self.partition = line["key"], line["partition"]
        self.event_id, self.type = line["event_id"], line["type"]
        self.value = bytes.fromhex(line["value"])
        self.expect, self.lot = line["expect"], line["lot"]
        self.offset = None


def generate(tool, a, out_dir):
    schemas = os.environ.get("LOTLINE_SCHEMAS", "schemas")
    run = subprocess.run([tool, "--schemas", schemas, "--out", out_dir,
                          "--events", str(a.events), "--seed", str(a.seed),
                          "--partitions", str(a.partitions)],
                         capture_output=True, text=True, timeout=300)
    for line in (run.stdout + run.stderr).strip().splitlines():
        say(line)
    if run.returncode != 0:
        raise RuntimeError("lotline_model_stream exited %d" % run.returncode)
    with open(os.path.join(out_dir, "stream.jsonl")) as f:
        stream = [Record(json.loads(line)) for line in f]
    with open(os.path.join(out_dir, "expected.json")) as f:
        expected = json.load(f)
    missing = [o for o in OUTCOMES if not expected["counts"].get(o)]
    if missing and a.events >= OUTCOMES_FROM_EVENTS:
        raise RuntimeError("the stream holds no %s" % ", ".join(missing))
    biggest = max(expected["partition_bytes"])
    if biggest > PARTITION_BYTES_MAX:
        raise RuntimeError("partition data %d bytes: over %d, the embedded "
                           "broker would drop the oldest" %
                           (biggest, PARTITION_BYTES_MAX))
    return stream, expected


def accepted_by_lot(stream):
    """(product, lot id) -> the accepted event ids, in stream order."""
    out = {}
    for r in stream:
        if r.expect == "OK":
            out.setdefault((r.product, r.lot), []).append(r.event_id)
    return out


class Feeder(cc.Feeder):
    """The cluster tests' steady-rate producer, which also keeps each
    record's offset: a rejection names its record by (partition, offset)."""

    def _report(self, ev):
        check = super()._report(ev)

        def report(err, msg):
            check(err, msg)
            if err is None:
                ev.offset = msg.offset()
        return report


# ---- reading the API ----

def call(inst, path, headers=None):
    """(status, JSON body); -1 when nothing answers (a killed instance)."""
    if not inst.alive():
        return -1, None
    try:
        return kit.http_call(inst, "GET", path, headers=headers)
    except (urllib.error.URLError, OSError, ValueError):
        return -1, None


class Listing:
    """What one instance's answers of GET /v1/rejections showed."""

    def __init__(self):
        self.seen = {}        # (partition, offset) -> set of (code, event_id)
        self.twice = []       # (time, key, count) listed twice in one answer
        self.messages = {}    # (partition, offset) -> the message listed
        self.last_merged = None   # keys of its latest merged answer


class Watcher(threading.Thread):
    """Reads GET /v1/rejections of every live instance, merged and its own
    partitions only, round after round, until stopped."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.c = cluster
        self.by_inst = {i.name: Listing() for i in cluster.instances}
        self.stop_flag = threading.Event()
        self.rounds = 0

    def take(self, inst, merged):
        headers = None if merged else FORWARDED
        status, body = call(inst, "/v1/rejections?limit=%d" % LIST_LIMIT,
                            headers)
        if status != 200 or not isinstance(body, dict):
            return
        now = time.time()
        listing = self.by_inst[inst.name]
        counts = {}
        for row in body.get("rejections", []):
            key = (row.get("partition"), row.get("offset"))
            counts[key] = counts.get(key, 0) + 1
            listing.seen.setdefault(key, set()).add(
                (row.get("code"), row.get("event_id")))
            listing.messages[key] = row.get("message")
        listing.twice += [(now, k, n) for k, n in counts.items() if n > 1]
        if merged:
            listing.last_merged = set(counts)

    def round(self):
        for inst in self.c.live():
            self.take(inst, True)
            self.take(inst, False)
        self.rounds += 1

    def run(self):
        while not self.stop_flag.is_set():
            self.round()
            time.sleep(POLL_GAP_S)

    def finish(self):
        self.stop_flag.set()
        self.join()
        self.round()   # the final answers, once everything settled


def pages(inst, path, field):
    """Every row of a paged list; None when an answer is not 200."""
    rows, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        q = "%slimit=%d" % (sep, LIST_LIMIT)
        if cursor:
            q += "&cursor=" + urllib.parse.quote(cursor, safe="")
        status, body = call(inst, path + q)
        if status != 200 or not isinstance(body, dict):
            return None
        rows += body.get(field, [])
        cursor = body.get("next_cursor")
        if not cursor:
            return rows


# ---- the run ----

class Run:
    def __init__(self, a, cluster, stream, expected):
        self.a, self.c, self.stream, self.expected = a, cluster, stream, \
            expected
        self.topic = "lots.inbound"
        self.failures = []   # (kind, subject, instance, expected, got)
        self.lock = threading.Lock()
        self.watcher = Watcher(cluster)
        self.feeder = None

    def fail(self, kind, subject, instance, want, got):
        with self.lock:
            self.failures.append((kind, subject, instance, want, got))

    def poll_rounds(self):
        """cluster_checks.settle calls it at every look: no probes here."""

    def wait_progress(self, fraction):
        while self.feeder.progress() < fraction and \
                not self.feeder.done.is_set():
            time.sleep(0.1)

    def kill_plan(self):
        """(fraction of the stream, action, instance): kill i(N-1), restart
        it, kill i(N-2), restart it, ..."""
        steps, n = [], self.a.kills
        for k in range(n):
            victim = (len(self.c.instances) - 1 - k) % len(self.c.instances)
            steps.append(((2 * k + 1) / (2 * n + 1), "kill", victim))
            steps.append(((2 * k + 2) / (2 * n + 1), "restart", victim))
        return steps

    def play(self):
        self.feeder = Feeder(self.c.brokers, self.topic, self.stream,
                             self.a.duration)
        self.watcher.start()
        self.feeder.start()
        say("producing %d events over %.0fs" % (len(self.stream),
                                                self.a.duration))
        for fraction, action, k in self.kill_plan():
            self.wait_progress(fraction)
            if action == "kill":
                self.c.kill9(k)
            else:
                self.c.restart(k)
                self.c.wait_ready([self.c.instances[k]])
                say("%s ready again" % self.c.instances[k].name)
        self.feeder.join()
        for e in self.feeder.errors[:SHOW_IN_FULL]:
            self.fail("produce", e, "-", "delivered", "not")
        say("stream sent (%d events)" % len(self.stream))


# ---- checks: lots and histories ----

def want_lot(lot):
    return {"name": lot["name"], "tracking": lot["tracking"],
            "version": lot["version"], "hold": lot["hold_reason"],
            "uom": lot["uom"],
            "on_hand": decimal.Decimal(lot["on_hand_micro"]) / MICRO}


def got_lot(body):
    hold = body.get("hold")
    return {"name": body.get("name"), "tracking": body.get("tracking"),
            "version": body.get("version"),
            "hold": hold.get("reason") if isinstance(hold, dict) else None,
            "uom": body.get("uom"),
            "on_hand": decimal.Decimal(body.get("on_hand", "NaN"))}


def want_locations(lot):
    return {(r["location"], r["usage"]):
            decimal.Decimal(r["quantity_micro"]) / MICRO
            for r in lot["locations"]}


def got_locations(body):
    return {(r["location"], r["usage"]): decimal.Decimal(r["quantity"])
            for r in body.get("locations", [])
            if decimal.Decimal(r["quantity"]) != 0}


def check_one_lot(run, inst, lot, history):
    """The lot, its locations and its history on one instance."""
    p, l = lot["product_id"], lot["lot_id"]
    base = "/v1/products/%s/lots/%s" % (urllib.parse.quote(p, safe=""),
                                        urllib.parse.quote(l, safe=""))
    subject = "%s/%s" % (p, l)
    status, body = call(inst, base)
    if status != 200 or not isinstance(body, dict):
        run.fail("lot", subject, inst.name, "200", "HTTP %d" % status)
        return
    if got_lot(body) != want_lot(lot):
        run.fail("lot", subject, inst.name, want_lot(lot), got_lot(body))
    status, body = call(inst, base + "/locations?all=1")
    got = got_locations(body) if status == 200 and \
        isinstance(body, dict) else "HTTP %d" % status
    if got != want_locations(lot):
        run.fail("locations", subject, inst.name, want_locations(lot), got)
    rows = pages(inst, base + "/moves", "events")
    got = [r.get("event_id") for r in rows] if rows is not None else \
        "no answer"
    if got != history:
        run.fail("history", subject, inst.name, "%d accepted events %s" % (
            len(history), history[:8]), describe_history(history, got))


def describe_history(want, got):
    if not isinstance(got, list):
        return got
    missing = [e for e in want if e not in set(got)]
    extra = [e for e in got if e not in set(want)]
    return "%d events; missing %s; not accepted %s%s" % (
        len(got), missing[:8], extra[:8],
        "" if missing or extra else "; another order")


def check_lot_list(run, inst, lots):
    rows = pages(inst, "/v1/lots", "lots")
    if rows is None:
        run.fail("lots", "GET /v1/lots", inst.name, "200", "no answer")
        return
    got = sorted((r.get("product_id"), r.get("lot_id")) for r in rows)
    want = sorted((x["product_id"], x["lot_id"]) for x in lots)
    if got != want:
        g, w = set(got), set(want)
        run.fail("lots", "GET /v1/lots", inst.name, "%d lots" % len(want),
                 "%d lots; missing %s; not the model's %s" % (
                     len(got), sorted(w - g)[:8], sorted(g - w)[:8]))


def check_lots(run, instances):
    lots = run.expected["lots"]
    histories = accepted_by_lot(run.stream)
    known = {(x["product_id"], x["lot_id"]) for x in lots}
    for key in histories:
        if key not in known:
            run.fail("model", "%s/%s" % key, "-", "a lot", "none")
    with concurrent.futures.ThreadPoolExecutor(run.a.workers) as pool:
        jobs = [pool.submit(check_one_lot, run, inst, lot,
                            histories.get((lot["product_id"], lot["lot_id"]),
                                          []))
                for inst in instances for lot in lots]
        jobs += [pool.submit(check_lot_list, run, inst, lots)
                 for inst in instances]
        for j in jobs:
            j.result()


# ---- checks: rejections ----

def expected_rejections(run):
    """(partition, offset) -> the rejected record."""
    out = {}
    for r in run.stream:
        if r.expect not in ("OK", "DUPLICATE") and r.offset is not None:
            out[(r.partition, r.offset)] = r
    return out


def show_key(key, rec):
    if rec is None:
        return "record %s:%s" % key
    return "%s %s of %s (record %s:%s)" % (rec.type, rec.event_id,
                                           rec.product, key[0], key[1])


def check_listed(run, want):
    """Every row any instance listed is an expected rejection, with its
    code; never twice in one answer."""
    for name, listing in sorted(run.watcher.by_inst.items()):
        for key, seen in sorted(listing.seen.items(), key=str):
            rec = want.get(key)
            if rec is None:
                run.fail("unexpected", show_key(key, None), name,
                         "not rejected", "%s: %s" % (
                             sorted(seen), listing.messages.get(key)))
            elif seen != {(rec.expect, rec.event_id)}:
                run.fail("code", show_key(key, rec), name, rec.expect,
                         sorted(seen))
        for t, key, n in listing.twice:
            run.fail("twice", show_key(key, want.get(key)), name,
                     "listed once", "%d times in one answer" % n)


def check_coverage(run, want, topic_rows):
    """How many expected rejections each instance listed; one no answer
    ever listed must at least be on lots.rejected (it was decided, then
    scrolled past the newest 1000 between two reads, as a catch-up after
    a failover decides a partition's backlog at once)."""
    w = run.watcher
    stats = {name: 0 for name in w.by_inst}
    unseen = 0
    for key, rec in sorted(want.items()):
        listed = [n for n, x in w.by_inst.items() if key in x.seen]
        for name in listed:
            stats[name] += 1
        if listed:
            continue
        unseen += 1
        if key not in topic_rows:
            run.fail("never listed", show_key(key, rec), "all", rec.expect,
                     "neither through the API nor on lots.rejected")
    return stats, unseen


def check_final_listings(run):
    """After the stream, every instance's merged answer is the same."""
    finals = {n: x.last_merged for n, x in run.watcher.by_inst.items()
              if x.last_merged is not None}
    names = sorted(finals)
    for n in names[1:]:
        if finals[n] != finals[names[0]]:
            d = finals[n] ^ finals[names[0]]
            run.fail("final", "GET /v1/rejections", n,
                     "as %s's answer" % names[0],
                     "%d rows differ, e.g. %s" % (len(d), sorted(d)[:4]))
    if len(finals) != len(run.c.instances):
        run.fail("final", "GET /v1/rejections", "-",
                 "an answer from every instance", "from %s" % names)


def check_paged(run, want):
    """After the stream, every live instance paged with next_before lists
    every expected rejection exactly once, with its code, and nothing
    else."""
    for inst in run.c.live():
        rows = cc.rejections_of(inst)
        if rows is None:
            run.fail("paged", "GET /v1/rejections", inst.name, "200 pages",
                     "a page failed")
            continue
        listed = {}
        for row in rows:
            key = (row.get("partition"), row.get("offset"))
            listed.setdefault(key, []).append(row.get("code"))
        for key, codes in sorted(listed.items(), key=str):
            rec = want.get(key)
            if rec is None or codes != [rec.expect]:
                run.fail("paged", show_key(key, rec), inst.name,
                         rec.expect if rec else "not rejected", codes)
        for key in sorted(set(want) - set(listed)):
            run.fail("paged", show_key(key, want[key]), inst.name,
                     want[key].expect, "not listed")


def check_rejections(run, on_topic):
    want = expected_rejections(run)
    check_listed(run, want)
    check_topic(run, want, on_topic)
    stats = check_coverage(run, want, on_topic[1])
    check_final_listings(run)
    check_paged(run, want)
    return len(want), stats


# ---- checks: lots.rejected ----

def avro_long(b, i):
    """An Avro long (zig-zag varint) at b[i:]: (value, next index)."""
    shift = n = 0
    while True:
        byte = b[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (n >> 1) ^ -(n & 1), i


def avro_string(b, i):
    n, i = avro_long(b, i)
    return b[i:i + n].decode(), i + n


def rejection_fields(value):
    """event_id, code, partition and offset of a Rejection record
    (schemas/Rejection.v1.avsc, single-object encoding): its first six
    fields read by hand, as python3-avro takes minutes for a long run."""
    i = 10                                   # C3 01 and the fingerprint
    branch, i = avro_long(value, i)
    event_id = None
    if branch == 1:
        event_id, i = avro_string(value, i)
    code, i = avro_string(value, i)
    _, i = avro_string(value, i)             # message
    _, i = avro_string(value, i)             # topic
    partition, i = avro_long(value, i)
    offset, i = avro_long(value, i)
    return {"event_id": event_id, "code": code, "partition": partition,
            "offset": offset}


def read_topic(run, want, timeout_s=TOPIC_WAIT_S):
    """lots.rejected from the start: (partition, offset) -> the set of
    distinct record values; read until every expected rejection is there
    or nothing new came for a few seconds."""
    c = Consumer({"bootstrap.servers": run.c.brokers, "group.id":
                  "model-check", "enable.auto.commit": False})
    c.assign([TopicPartition("lots.rejected", p, OFFSET_BEGINNING)
              for p in range(run.a.partitions)])
    got, rows = {}, {}
    deadline, last_new = time.time() + timeout_s, time.time()
    try:
        while time.time() < deadline and time.time() - last_new < 5 and \
                len(want.keys() - rows.keys()) > 0:
            for msg in c.consume(1000, 0.5):
                if msg.error():
                    continue
                r = rejection_fields(msg.value())
                key = (r["partition"], r["offset"])
                got.setdefault(key, set()).add(msg.value())
                rows[key] = r
                last_new = time.time()
    finally:
        c.close()
    say("lots.rejected: %d distinct records" % sum(len(v) for v in got.values()))
    return got, rows


def check_topic(run, want, on_topic):
    """Every rejected record on lots.rejected with its code, nothing else;
    a repeat (after a kill or a takeover) byte for byte the same."""
    values, rows = on_topic
    for key, rec in sorted(want.items()):
        r = rows.get(key)
        if r is None:
            run.fail("topic", show_key(key, rec), "lots.rejected", rec.expect,
                     "missing")
        elif (r["code"], r["event_id"]) != (rec.expect, rec.event_id):
            run.fail("topic", show_key(key, rec), "lots.rejected", rec.expect,
                     "%s %s" % (r["code"], r["event_id"]))
    for key, r in sorted(rows.items()):
        if key not in want:
            run.fail("topic", show_key(key, None), "lots.rejected",
                     "not rejected", "%s %s" % (r["code"], r["event_id"]))
        elif len(values[key]) > 1:
            run.fail("topic", show_key(key, want[key]), "lots.rejected",
                     "repeats byte for byte", "%d different records" %
                     len(values[key]))


# ---- report ----

def summarize(run, n_rej, stats):
    f, a, e = run.failures, run.a, run.expected
    print()
    print("==== cluster model check: %d instances, seed %d, %d events, %d "
          "kill(s) ====" % (a.instances, a.seed, a.events, a.kills))
    print("model: %s" % ", ".join("%s=%d" % kv for kv in
                                 sorted(e["counts"].items())))
    print("lots %d, expected rejections %d, rejection reads %d rounds" % (
        len(e["lots"]), n_rej, run.watcher.rounds))
    listed, unseen = stats
    print("  listed through the API: %s; %d never (read on lots.rejected "
          "instead)" % (", ".join("%s %d" % kv for kv in
                                  sorted(listed.items())), unseen))
    if not f:
        print("PASS")
        return 0
    print("FAIL: %d mismatch(es); the first %d:" % (len(f), min(
        len(f), SHOW_IN_FULL)))
    for kind, subject, inst, want, got in f[:SHOW_IN_FULL]:
        print("  [%s] %s on %s\n      expected: %s\n      got:      %s" % (
            kind, subject, inst, want, got))
    counts = {}
    for kind, _, inst, _, _ in f:
        counts[(kind, inst)] = counts.get((kind, inst), 0) + 1
    print("all mismatches by kind and instance:")
    for (kind, inst), n in sorted(counts.items()):
        print("  %-13s %-5s %d" % (kind, inst, n))
    return 1


def check_all(run):
    say("settle: " + cc.settle(run.c, run.topic, run.a.partitions, run.fail,
                               run.a.quiet_s, run.a.settle_timeout,
                               run.poll_rounds))
    run.watcher.finish()
    for inst in run.c.died():
        run.fail("process", "exited unexpectedly with %s" %
                 inst.proc.popen.returncode, inst.name, "running", "dead")
    live = run.c.live()
    t0 = time.time()
    check_lots(run, live)
    values, rows = read_topic(run, expected_rejections(run))
    n_rej, stats = check_rejections(run, (values, rows))
    say("checked %d lots and %d rejections on %d instances in %.1fs" % (
        len(run.expected["lots"]), n_rej, len(live), time.time() - t0))
    cc.stop_and_verify(run.c, run.fail)
    return n_rej, stats


def main():
    a = parse_args()
    tool = exit_if_no_tool()
    c = kit.Cluster(a.instances, a.partitions, keep=a.keep, tag="model")
    try:
        stream, expected = generate(tool, a, os.path.join(c.tmp, "stream"))
        run = Run(a, c, stream, expected)
        c.start()
        run.play()
    except (RuntimeError, AssertionError) as e:
        print("FAIL: %s\n%s" % (e, c.logs(15)))
        return 1
    n_rej, stats = check_all(run)
    code = summarize(run, n_rej, stats)
    if code:
        print(c.logs(15))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
