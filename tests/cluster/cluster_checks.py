"""cluster_checks.py — what the cluster tests share: the producer that sends
the stream, settling, and the checks of the outcome against the model.

A cluster test starts instances (cluster_kit.py), sends a seeded stream
(stream_model.py) through a Feeder, disturbs the cluster its own way
(a kill, kills, a join, a leave), waits with `settle` and then checks,
each check appending to one `Failures`:

  (a) `check_lots`: every lot's Locations view equals the model, through
      every instance's API;
  (b) `check_rejections`: GET /v1/rejections lists each expected rejection
      exactly once per event id, and nothing else;
  (c) `check_events`, `check_quantities`: lots.events and lots.quantities
      read read_committed from the beginning: per partition the task
      positions 1..N dense, a repeated record byte-identical to its first
      copy, the accepted events exactly the model's (in each partition's
      order), every quantity's last value the model's;
  (d) `check_rejected`: lots.rejected holds every rejection the model
      predicts and nothing else; a repeat is byte-identical and names the
      same original (topic, partition, offset) (docs/streams.md);
  (e) `stop_and_verify`: SIGTERM stops every instance with exit 0, then
      `lotline verify` passes on every data directory.

Only the standard library is imported at load time: a test calls
`exit_if_missing()` before anything needs confluent_kafka or avro.
"""
import decimal
import importlib.util
import io
import os
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

import cluster_kit as kit

SKIP_EXIT = 77
SHOW_IN_FULL = 20
TOPIC_READ_TIMEOUT_S = 60
REJECTIONS_PAGE_ROWS = 1000
POSITION_HEADER = "lotline-position"
say = kit.say


# ---- prerequisites ----

def missing_prereqs():
    missing = [m for m in ("confluent_kafka", "avro")
               if importlib.util.find_spec(m) is None]
    for b in ("lotlined", "lotline"):
        if not os.access(os.path.join(kit.BIN, b), os.X_OK):
            missing.append(os.path.join(kit.BIN, b))
    return missing


def exit_if_missing():
    """Exit 77 (skipped) when a prerequisite is missing; 1 instead under
    LOTLINE_TEST_REQUIRE_PREREQS=1, where the test must run."""
    missing = missing_prereqs()
    if not missing:
        return
    required = os.environ.get("LOTLINE_TEST_REQUIRE_PREREQS", "")
    if required not in ("", "0"):
        print("ERROR: prerequisite missing: %s; LOTLINE_TEST_REQUIRE_PREREQS "
              "is set, so this test must run" % ", ".join(missing))
        sys.exit(1)
    print("SKIPPED: prerequisite missing: %s" % ", ".join(missing))
    sys.exit(SKIP_EXIT)


# ---- failures ----

class Failures:
    """Every mismatch as (kind, subject, instance, expected, got)."""

    def __init__(self):
        self.rows = []

    def __call__(self, kind, subject, instance, expected, got):
        self.rows.append((kind, subject, instance, expected, got))

    def __len__(self):
        return len(self.rows)

    def report(self):
        """Prints PASS or the mismatches; the exit status."""
        f = self.rows
        if not f:
            print("PASS")
            return 0
        print("FAIL: %d mismatch(es); the first %d:" % (
            len(f), min(len(f), SHOW_IN_FULL)))
        for kind, subject, inst, want, got in f[:SHOW_IN_FULL]:
            print("  [%s] %s on %s\n      expected: %s\n      got:      %s" %
                  (kind, subject, inst, want, got))
        counts = {}
        for kind, _, inst, _, _ in f:
            counts[(kind, inst)] = counts.get((kind, inst), 0) + 1
        print("all mismatches by kind and instance:")
        for (kind, inst), n in sorted(counts.items()):
            print("  %-12s %-5s %d" % (kind, inst, n))
        return 1


# ---- producing ----

def new_producer(brokers):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": brokers, "enable.idempotence": True,
                     "acks": "all", "partitioner": "murmur2_random",
                     "linger.ms": 5, "log_level": 4})


class Feeder(threading.Thread):
    """Sends the stream at a steady rate; checks every record landed on the
    partition the model computed."""

    def __init__(self, brokers, topic, events, duration_s):
        super().__init__(daemon=True)
        self.p = new_producer(brokers)
        self.topic, self.events, self.duration_s = topic, events, duration_s
        self.sent = 0
        self.errors = []
        self.done = threading.Event()

    def progress(self):
        return self.sent / len(self.events)

    def _report(self, ev):
        def report(err, msg):
            if err is not None:
                self.errors.append("%s: %s" % (ev.event_id, err))
            elif msg.partition() != ev.partition:
                self.errors.append("%s: partition %d, model said %d" % (
                    ev.event_id, msg.partition(), ev.partition))
        return report

    def run(self):
        t0 = time.time()
        gap_s = self.duration_s / len(self.events)
        for i, ev in enumerate(self.events):
            ahead = t0 + i * gap_s - time.time()
            if ahead > 0:
                time.sleep(ahead)
            self.p.produce(self.topic, key=ev.product.encode(), value=ev.value,
                           on_delivery=self._report(ev))
            self.p.poll(0)
            self.sent = i + 1
        left = self.p.flush(60)
        if left:
            self.errors.append("%d records not delivered" % left)
        self.p = None   # closed before the broker stops
        self.done.set()

    def finish(self, fail):
        """Waits for the last delivery; a record not delivered, or on
        another partition than the model's, is a failure."""
        self.join()
        for e in self.errors[:SHOW_IN_FULL]:
            fail("produce", e, "-", "delivered", "not")


# ---- the stream's arguments ----

def add_stream_args(p, seed, events, duration_s):
    """The arguments every cluster test's stream takes, with its defaults."""
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--events", type=int, default=events)
    p.add_argument("--products", type=int, default=20)
    p.add_argument("--lots", type=int, default=3, help="lots per product")
    p.add_argument("--duration", type=float, default=duration_s,
                   help="seconds over which the stream is sent")
    p.add_argument("--partitions", type=int, default=12)


# ---- settling ----

def committed_lag(brokers, group, topic, partitions):
    """Sum over partitions of (high watermark - the group's committed
    offset), as any lag tool sees it; None when the broker cannot say."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": brokers, "group.id": group,
                  "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        lag = 0
        for tp in c.committed(tps, timeout=10):
            lo, hi = c.get_watermark_offsets(tp, timeout=10)
            done = tp.offset if tp.offset >= 0 else lo
            lag += max(0, hi - done)
        return lag
    except Exception as e:  # noqa: BLE001 - the kit reports, never hides
        say("committed offsets unavailable: %s" % e)
        return None
    finally:
        c.close()


def instance_state(inst):
    status, _ = inst.get("/readyz")
    values, owned = inst.metrics()
    return {"ready": status == 200,
            "log": values.get("lotline_log_position"),
            "views": values.get("lotline_views_position"),
            "owned": sorted(owned)}


def fmt_num(v):
    return "-" if v is None else "%d" % v


def settle(c, topic, partitions, fail, quiet_s, timeout_s, tick=None):
    """Until the group has consumed everything, every live instance is
    ready with its views at its log, and two looks a second apart agree;
    or nothing moved for quiet_s; or timeout_s (a failure). tick() runs at
    every look."""
    t0 = time.time()
    last, last_change, stable = None, time.time(), 0
    while True:
        if tick:
            tick()
        lag = committed_lag(c.brokers, c.group, topic, partitions)
        states = {i.name: instance_state(i) for i in c.live()}
        now = (lag, tuple((n, s["log"], s["views"]) for n, s in
                          sorted(states.items())))
        if now != last:
            last, last_change = now, time.time()
        caught_up = lag == 0 and all(
            s["ready"] and s["log"] == s["views"] for s in states.values())
        stable = stable + 1 if caught_up and now == last else 0
        if int(time.time() - t0) % 2 == 0 or stable:
            say("settling: committed lag %s; %s" % (lag, "; ".join(
                "%s log %s views %s ready %s partitions %s" % (
                    n, fmt_num(s["log"]), fmt_num(s["views"]), s["ready"],
                    s["owned"]) for n, s in sorted(states.items()))))
        if stable >= 2:
            return "settled: group lag 0, views at the log"
        if time.time() - last_change > quiet_s:
            return "quiet for %.0fs (not caught up: lag %s)" % (quiet_s, lag)
        if time.time() - t0 > timeout_s:
            fail("settle", "cluster", "-", "settled within %.0fs" % timeout_s,
                 "still moving")
            return "not settled within %.0fs" % timeout_s
        time.sleep(1)


def check_alive(c, fail):
    """No instance exited that the test did not stop."""
    for inst in c.died():
        fail("process", "exited unexpectedly with %s" %
             inst.proc.popen.returncode, inst.name, "running", "dead")


# ---- (a) every lot through every instance ----

def api_locations(body):
    rows = {}
    for r in body.get("locations", []):
        rows[(r["location"], r["usage"])] = decimal.Decimal(r["quantity"])
    return {"product_id": body.get("product_id"),
            "on_hand": decimal.Decimal(body.get("on_hand", "NaN")),
            "locations": rows}


def show_locations(x):
    if not isinstance(x, dict):
        return str(x)
    rows = ", ".join("%s(%s)=%s" % (loc, usage, q.normalize())
                     for (loc, usage), q in sorted(x["locations"].items()))
    return "product %s on_hand %s [%s]" % (x["product_id"],
                                           x["on_hand"].normalize(), rows)


def lot_answer(inst, lot_id):
    status, body = inst.get("/v1/lots/%s/locations?all=1" %
                            urllib.parse.quote(lot_id, safe=""))
    if status != 200 or not isinstance(body, dict):
        code = body.get("code") if isinstance(body, dict) else None
        return "HTTP %d %s" % (status, code or "")
    return api_locations(body)


def every_instance(_partition, names):
    """The judges of --check every: each instance must answer right."""
    return names


def check_lots(fail, model, instances, judges=every_instance):
    """Every lot of the model through every instance. judges(partition,
    names) names the instances whose answer must be right, or None when
    one right answer among them all is enough. Returns per instance the
    count of lots not found and of lots with other quantities."""
    import stream_model as sm
    wrong = {i.name: {"unknown": 0, "different": 0} for i in instances}
    names = [i.name for i in instances]
    for lot_id, lot in sorted(model.lots.items()):
        want = lot.expected()
        got = {i.name: lot_answer(i, lot_id) for i in instances}
        bad = [n for n, g in got.items() if g != want]
        for n in bad:
            wrong[n]["different" if isinstance(got[n], dict) else
                     "unknown"] += 1
        judge = judges(sm.partition_of(lot.product, model.partitions), names)
        if judge is not None:
            for n in judge:
                if n in bad:
                    fail("lot", lot_id, n, show_locations(want),
                         show_locations(got[n]))
        elif len(bad) == len(instances):
            fail("lot", lot_id, "all", show_locations(want), "; ".join(
                "%s: %s" % (n, show_locations(g)) for n, g in got.items()))
    return wrong


def print_wrong_lots(wrong, n_lots):
    for name, n in sorted(wrong.items()):
        print("  %s: %d of %d lots wrong (%d not found or no answer, %d with "
              "other quantities)" % (name, n["unknown"] + n["different"],
                                     n_lots, n["unknown"], n["different"]))


# ---- (b) every rejection once per event id through every instance ----

def rejections_of(inst):
    """Every rejection inst lists, newest first, paged with next_before;
    None when a page is not a 200."""
    rows, before = [], None
    while True:
        q = "/v1/rejections?limit=%d" % REJECTIONS_PAGE_ROWS
        if before is not None:
            q += "&before=" + urllib.parse.quote(before, safe="")
        status, body = inst.get(q)
        if status != 200 or not isinstance(body, dict):
            return None
        rows += body.get("rejections", [])
        before = body.get("next_before")
        if before is None:
            return rows


def listed_rejections(fail, instances):
    """instance -> {event_id: [codes]} as GET /v1/rejections lists them,
    every page."""
    listed = {}
    for inst in instances:
        rows = rejections_of(inst)
        if rows is None:
            fail("rejections", "GET /v1/rejections", inst.name, "200",
                 "no answer")
            rows = []
        by_id = {}
        for r in rows:
            by_id.setdefault(r.get("event_id"), []).append(r.get("code"))
        listed[inst.name] = by_id
    return listed


def check_rejections(fail, model, instances, judges=every_instance):
    """Each expected rejection exactly once per event id with its code, on
    the instances judges() names (see check_lots), and nothing else on any
    instance. Returns the count expected."""
    want = model.expected_rejections()
    listed = listed_rejections(fail, instances)
    for name, by_id in listed.items():
        for eid, codes in sorted(by_id.items(), key=lambda kv: str(kv[0])):
            if eid not in want:
                fail("rejection", eid, name, "none", ",".join(codes))
            elif len(codes) > 1:
                fail("rejection", eid, name, "once: " + want[eid],
                     "%d times: %s" % (len(codes), ",".join(codes)))
            elif codes[0] != want[eid]:
                fail("rejection", eid, name, want[eid], codes[0])
    for eid, code in sorted(want.items()):
        have = [n for n, by_id in listed.items() if eid in by_id]
        judge = judges(model.partition[eid], sorted(listed))
        if judge is not None:
            for n in sorted(set(judge) - set(have)):
                fail("rejection", eid, n, code, "missing")
        elif not have:
            fail("rejection", eid, "all", code, "missing")
    return len(want)


# ---- reading the output topics ----

class Decoder:
    """Avro single-object decoding with every schema under schemas/."""

    def __init__(self, schemas_dir):
        import avro.schema
        import stream_model as sm
        self.by_fp = {}
        for fn in sorted(os.listdir(schemas_dir)):
            if fn.endswith(".avsc"):
                with open(os.path.join(schemas_dir, fn)) as f:
                    schema = avro.schema.parse(f.read())
                fp = sm.crc64_avro(sm.canonical_form(schema).encode())
                self.by_fp[fp] = schema

    def decode(self, value):
        """(record name, datum), or (None, why) when it cannot."""
        import avro.io
        if value is None or len(value) < 10 or value[:2] != b"\xc3\x01":
            return None, "not single-object encoded"
        schema = self.by_fp.get(struct.unpack("<Q", value[2:10])[0])
        if schema is None:
            return None, "unknown fingerprint"
        datum = avro.io.DatumReader(schema).read(
            avro.io.BinaryDecoder(io.BytesIO(value[10:])))
        return schema.name, datum


class Record:
    __slots__ = ("partition", "offset", "key", "value", "headers", "position")

    def __init__(self, m):
        self.partition, self.offset = m.partition(), m.offset()
        self.key, self.value = m.key(), m.value()
        self.headers = list(m.headers() or [])
        pos = dict(self.headers).get(POSITION_HEADER)
        self.position = int(pos) if pos is not None else None


def read_topic(brokers, topic, timeout_s=TOPIC_READ_TIMEOUT_S):
    """Every record of topic from the beginning, read_committed, in offset
    order per partition; raises when a partition cannot be read to its
    end."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": brokers, "group.id": "ck-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed"})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        unread, tps = set(), []
        for p in sorted(meta.partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p),
                                             timeout=10)
            if hi > lo:
                unread.add(p)
                tps.append(TopicPartition(topic, p, lo))
        out = []
        if tps:
            c.assign(tps)
        deadline = time.time() + timeout_s
        while unread and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                unread.discard(m.partition())
                continue
            out.append(Record(m))
        if unread:
            raise RuntimeError("could not read %s partitions %s to the end" %
                               (topic, sorted(unread)))
        return out
    finally:
        c.close()


def by_partition(records):
    out = {}
    for r in records:
        out.setdefault(r.partition, []).append(r)
    return out


def first_copies(fail, topic, records, ident_of):
    """Per partition, the records in first-copy order: a record whose
    identity (position and ident_of) was seen before must be byte-identical
    (key, value, headers) to the first copy, and must not carry a position
    above the highest seen (docs/streams.md, guarantee 3); first copies
    must come in position order. Returns ({partition: [first copies]},
    count of repeats)."""
    firsts, repeats = {}, 0
    for part, recs in sorted(by_partition(records).items()):
        seen, high = {}, 0
        for r in recs:
            if r.position is None or [k for k, _ in r.headers] != \
                    [POSITION_HEADER]:
                fail(topic, "p%d offset %d" % (part, r.offset), "-",
                     "one header %s" % POSITION_HEADER,
                     [k for k, _ in r.headers])
                continue
            ident = (r.position, ident_of(r))
            first = seen.get(ident)
            if first is not None:
                repeats += 1
                if (first.key, first.value, first.headers) != \
                        (r.key, r.value, r.headers):
                    fail(topic, "p%d position %d offset %d" % (
                        part, r.position, r.offset), "-",
                        "byte-identical to offset %d" % first.offset,
                        "different bytes")
                continue
            if r.position < high:
                fail(topic, "p%d offset %d" % (part, r.offset), "-",
                     "position at least %d" % high,
                     "new position %d" % r.position)
            seen[ident] = r
            high = max(high, r.position)
            firsts.setdefault(part, []).append(r)
    return firsts, repeats


# ---- (c) lots.events and lots.quantities ----

def expected_accepted(model, decoder):
    """partition -> [(event id, (record name, datum))] of the accepted
    events, in the order the model decided them."""
    import stream_model as sm
    out = {}
    for eid, value in model.seen.items():
        if eid in model.rejections:
            continue
        name, datum = decoder.decode(value)
        part = sm.partition_of(datum["product_id"], model.partitions)
        out.setdefault(part, []).append((eid, (name, datum)))
    return out


def check_events(fail, brokers, model, decoder, unordered=frozenset()):
    """lots.events against the model: per partition positions 1..N dense,
    repeats byte-identical, the accepted events exactly the model's, in its
    order except for the event ids in `unordered` (probes sent from
    another producer, whose place among the stream's is not known).
    Returns (records, {partition: N}, {partition: positions of moves},
    repeats)."""
    topic = "lots.events"
    records = read_topic(brokers, topic)
    firsts, repeats = first_copies(fail, topic, records, lambda r: b"")
    want = expected_accepted(model, decoder)
    tops, moves = {}, {}
    for part in sorted(set(firsts) | set(want)):
        got = firsts.get(part, [])
        positions = [r.position for r in got]
        tops[part] = len(got)
        if positions != list(range(1, len(got) + 1)):
            fail(topic, "p%d positions" % part, "-", "1..%d dense" % len(got),
                 summarize_gaps(positions))
        moves[part] = check_partition_events(fail, part, got,
                                             want.get(part, []), decoder,
                                             unordered)
    return len(records), tops, moves, repeats


def summarize_gaps(positions):
    missing = sorted(set(range(1, max(positions, default=0) + 1)) -
                     set(positions))
    return "%d positions, highest %d, missing %s" % (
        len(positions), max(positions, default=0), missing[:10])


def check_partition_events(fail, part, got, want, decoder, unordered):
    """The decoded first copies of one partition against the model's
    accepted events of that partition; returns the positions of its
    moves."""
    want_datum = dict(want)
    got_ids, moves = [], set()
    for r in got:
        name, datum = decoder.decode(r.value)
        if name is None:
            fail("lots.events", "p%d position %d" % (part, r.position), "-",
                 "an event", datum)
            continue
        eid = datum.get("event_id")
        got_ids.append(eid)
        if name == "StockMoved":
            moves.add(r.position)
        if eid not in want_datum:
            fail("lots.events", "p%d position %d" % (part, r.position), "-",
                 "an accepted event of the model", "%s %s" % (name, eid))
        elif (name, datum) != want_datum[eid]:
            fail("lots.events", eid, "-", str(want_datum[eid]),
                 "%s %s" % (name, datum))
        elif r.key != datum["product_id"].encode():
            fail("lots.events", eid, "-", "key " + datum["product_id"],
                 r.key)
    counted = {}
    for eid in got_ids:
        counted[eid] = counted.get(eid, 0) + 1
    for eid, n in sorted(counted.items()):
        if n > 1:
            fail("lots.events", eid, "-", "at one position",
                 "at %d positions of p%d" % (n, part))
    missing = [eid for eid, _ in want if eid not in counted]
    for eid in missing[:SHOW_IN_FULL]:
        fail("lots.events", eid, "-", "published on p%d" % part, "missing")
    ordered_got = [e for e in got_ids if e in want_datum and
                   e not in unordered]
    ordered_want = [e for e, _ in want if e not in unordered]
    if not missing and ordered_got != ordered_want:
        at = next(i for i, (a, b) in enumerate(zip(ordered_got, ordered_want))
                  if a != b) if len(ordered_got) == len(ordered_want) else \
            min(len(ordered_got), len(ordered_want))
        fail("lots.events", "p%d order" % part, "-",
             "the input's order: ... %s" % ordered_want[at:at + 3],
             "... %s" % ordered_got[at:at + 3])
    return moves


def quantity_key(r):
    return r.key


def check_quantities(fail, brokers, model, decoder, moves):
    """lots.quantities against the model: repeats byte-identical, two
    records (source, destination) at the position of every move of
    lots.events and none elsewhere, every (product, lot, location) last at
    the model's quantity (virtual locations too, zero included). Returns
    (records, repeats)."""
    topic = "lots.quantities"
    records = read_topic(brokers, topic)
    firsts, repeats = first_copies(fail, topic, records, quantity_key)
    last = {}
    for part in sorted(set(firsts) | set(moves)):
        recs = firsts.get(part, [])
        check_move_positions(fail, part, recs, moves.get(part, set()))
        for r in recs:
            name, q = decoder.decode(r.value)
            if name != "QuantityChanged":
                fail(topic, "p%d offset %d" % (part, r.offset), "-",
                     "QuantityChanged", "%s %s" % (name, q))
                continue
            if q["position"] != r.position:
                fail(topic, "p%d offset %d" % (part, r.offset), "-",
                     "position equal to the header's %d" % r.position,
                     q["position"])
            last[(q["product_id"], q["lot_id"], q["location"])] = (
                q["usage"], q["quantity"])
    for (product, lot_id, loc), (usage, qty) in sorted(
            expected_quantities(model).items()):
        got = last.pop((product, lot_id, loc), None)
        if got is None or got[1] != qty or got[0] != usage:
            fail(topic, "%s %s %s" % (product, lot_id, loc), "-",
                 "%s %s" % (usage, qty), got)
    for k, v in sorted(last.items())[:SHOW_IN_FULL]:
        fail(topic, " ".join(k), "-", "no record", v)
    return len(records), repeats


def check_move_positions(fail, part, recs, moves):
    counts = {}
    for r in recs:
        counts[r.position] = counts.get(r.position, 0) + 1
    wrong = sorted(p for p in set(counts) | moves
                   if counts.get(p, 0) != (2 if p in moves else 0))
    if wrong:
        fail("lots.quantities", "p%d positions" % part, "-",
             "2 records at each of the %d moves' positions" % len(moves),
             ", ".join("%d: %d" % (p, counts.get(p, 0)) for p in wrong[:10]))


def expected_quantities(model):
    """(product, lot, location) -> quantity after the last move, for every
    location a lot was ever moved from or to."""
    import stream_model as sm
    out = {}
    for lot_id, lot in model.lots.items():
        for loc, q in lot.qty.items():
            out[(lot.product, lot_id, loc)] = (
                sm.LOCATIONS[loc], q.quantize(sm.SCALE))
    return out


# ---- (d) lots.rejected ----

def check_rejected(fail, brokers, model, decoder):
    """lots.rejected: each expected (event id, code) from one original
    input, nothing unexpected; records naming the same original (topic,
    partition, offset) byte-identical (a redelivery of a rejected event is
    a no-op, not a second rejection). Returns (records, distinct
    originals)."""
    topic = "lots.rejected"
    want = model.expected_rejections()
    originals, found = {}, {}
    records = read_topic(brokers, topic)
    for r in records:
        name, rej = decoder.decode(r.value)
        if name != "Rejection":
            fail(topic, "p%d offset %d" % (r.partition, r.offset), "-",
                 "a Rejection", "%s %s" % (name, rej))
            continue
        triple = (rej["topic"], rej["partition"], rej["offset"])
        first = originals.setdefault(triple, r)
        if (first.key, first.value) != (r.key, r.value):
            fail(topic, "%s:%d:%d" % triple, "-",
                 "repeats byte-identical (offset %d)" % first.offset,
                 "offset %d differs" % r.offset)
        eid = rej["event_id"]
        if want.get(eid) != rej["code"]:
            fail(topic, "%s:%d:%d %s" % (triple + (eid,)), "-",
                 want.get(eid, "no rejection"), rej["code"])
        elif rej["partition"] != model.partition[eid]:
            fail(topic, eid, "-", "from p%d" % model.partition[eid],
                 "from p%d" % rej["partition"])
        found.setdefault(eid, set()).add(triple)
    for eid, code in sorted(want.items()):
        if eid not in found:
            fail(topic, eid, "-", code, "missing")
        elif len(found[eid]) > 1:
            fail(topic, eid, "-", "one original input",
                 sorted(found[eid]))
    return len(records), len(originals)


def check_streams(fail, brokers, model, schemas_dir, unordered=frozenset()):
    """(c) and (d); prints what it read."""
    decoder = Decoder(schemas_dir)
    try:
        n_ev, tops, moves, rep_ev = check_events(fail, brokers, model,
                                                 decoder, unordered)
        n_q, rep_q = check_quantities(fail, brokers, model, decoder, moves)
        n_rej, n_orig = check_rejected(fail, brokers, model, decoder)
    except RuntimeError as e:
        fail("topics", "read", "-", "every partition to its end", str(e))
        return
    say("lots.events: %d records, positions %d over %d partitions, %d "
        "repeats; lots.quantities: %d records, %d repeats; lots.rejected: "
        "%d records of %d inputs" % (n_ev, sum(tops.values()), len(tops),
                                     rep_ev, n_q, rep_q, n_rej, n_orig))


# ---- (e) clean stop and lotline verify ----

def stop_and_verify(c, fail):
    """SIGTERM every live instance (each must exit 0), stop the broker,
    then `lotline verify` on every data directory."""
    for name, rc in sorted(c.stop_all().items()):
        if rc != 0:
            fail("stop", "SIGTERM", name, "exit 0", "exit %s" % rc)
    for inst in c.instances:
        if inst.proc is None:
            continue
        out = subprocess.run(
            [os.path.join(kit.BIN, "lotline"), "verify", "--data", inst.data],
            capture_output=True, text=True, env=kit.child_env(), timeout=120)
        line = (out.stdout + out.stderr).strip().splitlines()
        say("lotline verify %s: exit %d: %s" % (inst.name, out.returncode,
                                                line[-1] if line else ""))
        if out.returncode != 0:
            fail("verify", inst.data, inst.name, "exit 0",
                 "exit %d: %s" % (out.returncode, " / ".join(line)))


def check_all(c, fail, model, schemas_dir, unordered=frozenset()):
    """(a) to (e) on a settled cluster, in that order; returns the lots
    wrong per instance."""
    check_alive(c, fail)
    live = c.live()
    wrong = check_lots(fail, model, live)
    check_rejections(fail, model, live)
    check_streams(fail, c.brokers, model, schemas_dir, unordered)
    stop_and_verify(c, fail)
    return wrong
