#!/usr/bin/python3
"""The downstream streams, read by an independent client
(python3-confluent-kafka + python3-avro), across a kill -9 and a SIGTERM.

Runs `lotlined broker` on its own (so the topics outlive lotlined) and
`lotlined all --brokers` against it with small publish transactions. A
seeded flow of lots and moves for several products goes to lots.inbound in
four phases; lotlined is killed with SIGKILL during the second and stopped
with SIGTERM during the third, and restarted each time. The flow includes
moves the rules must reject and redelivered events, and this script keeps
its own model of the stock so it knows exactly which events are accepted.

Then it reads lots.events and lots.quantities from the beginning and checks
what services/publisher/publisher.c promises (docs/streams.md):
  - every accepted event is in lots.events, decodable with python3-avro by
    the schema its fingerprint names, keyed by its product, with a
    lotline-position header (its only header); every product on one partition, the one its
    input partition has (the topics are co-partitioned); on each partition
    the positions are exactly 1..N_p (task positions: dense within the
    partition), the N_p add up to the log's N, and the event ids are exactly
    the accepted ones;
  - per partition, first copies come in increasing position order; a repeat
    is byte-identical to its first copy, and a partition's repeats fall in
    one window of at most publish.batch.max.events positions (the
    transaction in flight at the kill -9; the embedded broker does not abort
    transactions); the SIGTERM causes none;
  - lots.quantities, reduced to the last record per key as compaction
    would, gives for every lot exactly
    GET /v1/products/{product_id}/lots/{id}/locations?all=1.
"""
import decimal
import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import avro.io
import avro.schema
from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_python_client import canonical_form, crc64_avro  # noqa: E402

SCHEMAS = os.environ.get("LOTLINE_SCHEMAS", "schemas")
BIN = os.environ.get("LOTLINE_BIN", "build/bin")
BATCH = 40          # publish.batch.max.events
PRODUCTS = 6
LOTS = 5            # per product
MOVES = 1600        # in total, over the four phases
SEED = 20270301
T0 = 1767225600000  # 2026-01-01T00:00:00Z: fixed event times
SCALE = decimal.Decimal("0.000001")

LOCATIONS = {
    "Vendors/Acme": "SUPPLIER",
    "WH/Stock": "INTERNAL",
    "WH/Stock/Shelf-A": "INTERNAL",
    "WH/Stock/Shelf-B": "INTERNAL",
    "WH/Transit": "TRANSIT",
    "Customers/Bob": "CUSTOMER",
    "Customers/Eve": "CUSTOMER",
    "Scrap": "SCRAP",
}
STOCK = [k for k, v in LOCATIONS.items() if v in ("INTERNAL", "TRANSIT")]
OUT = ["Customers/Bob", "Customers/Eve", "Scrap"]


# ---- schemas and wire format ----

def load_schemas():
    by_name, by_fp = {}, {}
    for fn in sorted(os.listdir(SCHEMAS)):
        if not fn.endswith(".avsc"):
            continue
        with open(os.path.join(SCHEMAS, fn)) as f:
            s = avro.schema.parse(f.read())
        fp = crc64_avro(canonical_form(s).encode())
        by_fp[fp] = s
        by_name[fn.split(".")[0]] = s
    return by_name, by_fp


def single_object(schema, record):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buf))
    fp = crc64_avro(canonical_form(schema).encode())
    return b"\xc3\x01" + struct.pack("<Q", fp) + buf.getvalue()


def decode(by_fp, value):
    assert value[:2] == b"\xc3\x01", "not Avro single-object encoding"
    (fp,) = struct.unpack("<Q", value[2:10])
    schema = by_fp.get(fp)
    assert schema is not None, "unknown fingerprint %016x" % fp
    rec = avro.io.DatumReader(schema).read(
        avro.io.BinaryDecoder(io.BytesIO(value[10:])))
    return schema.name, rec


# ---- the flow, with a model of the rules it exercises ----

class Flow:
    """Lots and moves, and which of them the rules accept."""

    def __init__(self, schemas):
        self.s = schemas
        self.rng = random.Random(SEED)
        self.qty = {}         # (lot, location) -> Decimal
        self.lots = []        # (product, lot_id, serial)
        self.accepted = []    # event ids, in the order sent
        self.rejected = 0
        self.n = 0

    def ts(self):
        import datetime
        self.n += 1
        return datetime.datetime.fromtimestamp(
            (T0 + self.n * 1000) / 1000, tz=datetime.timezone.utc)

    def create(self, product, lot_id, serial):
        eid = "sb-c-" + lot_id
        self.lots.append((product, lot_id, serial))
        self.accepted.append(eid)
        return product, single_object(self.s["LotCreated"], {
            "event_id": eid, "occurred_at": self.ts(),
            "product_id": product, "lot_id": lot_id, "name": lot_id,
            "tracking": "SERIAL" if serial else "LOT", "reference": None,
            "description": None, "expiration_at": None, "use_by_at": None,
            "removal_at": None, "alert_at": None})

    def move(self, eid, product, lot_id, qty, src, dst, ok):
        if ok:
            self.accepted.append(eid)
            q = decimal.Decimal(qty)
            self.qty[(lot_id, src)] = self.qty.get((lot_id, src), 0) - q
            self.qty[(lot_id, dst)] = self.qty.get((lot_id, dst), 0) + q
        else:
            self.rejected += 1
        return product, single_object(self.s["StockMoved"], {
            "event_id": eid, "occurred_at": self.ts(), "product_id": product,
            "lot_id": lot_id, "lot_name": None,
            # python3-avro writes a Decimal's own digits: give it scale 6.
            "quantity": decimal.Decimal(qty).quantize(SCALE),
            "from": {"id": src, "usage": LOCATIONS[src]},
            "to": {"id": dst, "usage": LOCATIONS[dst]},
            "reference": "SB-%d" % self.n})

    def start(self):
        msgs = []
        for p in range(PRODUCTS):
            product = "SB-P%d" % p
            serial = p == PRODUCTS - 1
            for k in range(LOTS):
                lot_id = "%s-L%d" % (product, k)
                msgs.append(self.create(product, lot_id, serial))
                msgs.append(self.move("sb-r-" + lot_id, product, lot_id,
                                      "1" if serial else "500",
                                      "Vendors/Acme", "WH/Stock", True))
        return msgs

    def moves(self, count, first):
        msgs = []
        for i in range(first, first + count):
            product, lot_id, serial = self.rng.choice(self.lots)
            here = [loc for loc in STOCK if self.qty.get((lot_id, loc), 0) > 0]
            eid = "sb-m-%d" % i
            if not here:
                # Nothing on hand: a receipt (a serial comes back once).
                msgs.append(self.move(eid, product, lot_id,
                                      "1" if serial else "75.5",
                                      "Vendors/Acme", "WH/Stock", True))
                continue
            src = self.rng.choice(here)
            have = self.qty[(lot_id, src)]
            roll = self.rng.random()
            if roll < 0.05 and not serial:
                # More than is there: INSUFFICIENT_STOCK.
                msgs.append(self.move(eid, product, lot_id,
                                      str(have + 1), src, "WH/Transit"
                                      if src != "WH/Transit" else "WH/Stock",
                                      False))
                continue
            dst = self.rng.choice([d for d in STOCK + OUT if d != src])
            if serial:
                qty = "1"
            else:
                cents = self.rng.randint(1, max(1, int(have * 100) // 3))
                qty = str(decimal.Decimal(cents) / 100)
            m = self.move(eid, product, lot_id, qty, src, dst, True)
            msgs.append(m)
            if roll > 0.97:
                msgs.append(m)  # redelivered: the same bytes, a no-op
        return msgs


# ---- processes ----

START = time.time()


def say(what):
    print("[%6.2fs] %s" % (time.time() - START, what), flush=True)


def wait_file(path, timeout_s=30):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                line = f.readline().strip()
            if line:
                return line
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + path)


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def log_position(http):
    for line in get("http://%s/metrics" % http).splitlines():
        if line.startswith("lotline_log_position "):
            return int(line.split()[1])
    raise AssertionError("no lotline_log_position in /metrics")


class Daemon:
    def __init__(self, tmp, brokers):
        self.tmp, self.brokers = tmp, brokers
        self.data = os.path.join(tmp, "data")
        self.logf = open(os.path.join(tmp, "lotlined.log"), "a")
        self.proc = None
        self.http = None

    def start(self):
        addr = os.path.join(self.data, "http.addr")
        if os.path.exists(addr):
            os.unlink(addr)
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "lotlined"), "all", "--data", self.data,
             "--brokers", self.brokers, "--http", "127.0.0.1:0",
             "--set", "publish.batch.max.events=%d" % BATCH,
             "--set", "batch.max.events=100",
             # A restarted command consumer waits for the group to drop
             # its previous member: keep that short.
             "--set", "kafka.session.timeout.ms=6000",
             "--set", "kafka.heartbeat.interval.ms=500"],
            stdout=self.logf, stderr=self.logf)
        self.http = wait_file(addr)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def term(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        assert rc == 0, "lotlined exited with %d after SIGTERM" % rc


def produce(brokers, msgs):
    p = Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random", "linger.ms": 5})
    for key, value in msgs:
        p.produce("lots.inbound", key=key.encode(), value=value)
        p.poll(0)
    assert p.flush(30) == 0, "producer did not deliver"


def wait_log(d, want, timeout_s=60):
    deadline = time.time() + timeout_s
    pos = -1
    while time.time() < deadline:
        pos = log_position(d.http)
        if pos >= want:
            return pos
        time.sleep(0.05)
    raise AssertionError("log at %d, want %d" % (pos, want))


# ---- reading the topics ----

def read_topic(brokers, topic, timeout_s=60,
               headers=("lotline-position",)):
    """Every record of topic, from the beginning: (partition, offset, key,
    value, lotline-position or None). headers: the header names every
    record must carry, exactly (None: not checked)."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "sb-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed"})
    parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    todo = set()
    tps = []
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            todo.add(p)
            tps.append(TopicPartition(topic, p, lo))
    out = []
    if tps:
        c.assign(tps)
    deadline = time.time() + timeout_s
    while todo and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            todo.discard(m.partition())
            continue
        # The position is the only header: consumers get no bookkeeping.
        names = [k for k, _ in (m.headers() or [])]
        assert headers is None or names == list(headers), \
            "%s [%d] offset %d: headers %s" % (topic, m.partition(),
                                               m.offset(), names)
        pos = dict(m.headers() or []).get("lotline-position")
        out.append((m.partition(), m.offset(), m.key(), m.value(),
                    int(pos) if pos is not None else None))
    c.close()
    assert not todo, "could not read %s partitions %s" % (topic, todo)
    return out


def positions_by_partition(recs):
    out = {}
    for part, off, key, value, pos in recs:
        out.setdefault(part, set()).add(pos)
    return out


def wait_published(brokers, last, timeout_s=60):
    """Until every partition holds 1..N_p with the N_p adding up to last."""
    deadline = time.time() + timeout_s
    while True:
        recs = read_topic(brokers, "lots.events")
        by_part = positions_by_partition(recs)
        dense = all(ps == set(range(1, max(ps) + 1)) for ps in by_part.values())
        total = sum(max(ps) for ps in by_part.values())
        if dense and total == last:
            return recs
        if time.time() > deadline:
            raise AssertionError(
                "positions never published: %d of %d, per partition %s" % (
                    total, last, {p: (len(ps), max(ps))
                                  for p, ps in sorted(by_part.items())}))
        time.sleep(0.5)


def split_repeats(recs, key_of):
    """Per partition: first copies must be in log order; repeats equal an
    earlier copy with the same position and key. Returns (firsts,
    repeated positions)."""
    firsts, repeats = [], []
    high, seen = {}, {}
    for part, off, key, value, pos in recs:
        assert pos is not None, "record without lotline-position"
        ident = (part, pos, key_of(key, value))
        if ident in seen:
            assert seen[ident] == (key, value), \
                "repeat of position %d differs from its first copy" % pos
            repeats.append((part, pos))
            continue
        seen[ident] = (key, value)
        assert pos >= high.get(part, 0), \
            "partition %d: position %d after %d (offset %d)" % (
                part, pos, high[part], off)
        high[part] = pos
        firsts.append((part, off, key, value, pos))
    return firsts, repeats


def repeats_by_partition(repeats):
    out = {}
    for part, pos in repeats:
        out.setdefault(part, []).append(pos)
    return out


# ---- the test ----

def main():
    schemas, by_fp = load_schemas()
    flow = Flow(schemas)
    tmp = tempfile.mkdtemp(prefix="lotline-streams-")
    blog = open(os.path.join(tmp, "broker.log"), "w")
    broker = subprocess.Popen(
        [os.path.join(BIN, "lotlined"), "broker", "--data",
         os.path.join(tmp, "broker")], stdout=blog, stderr=blog)
    d = None
    ok = False
    try:
        brokers = wait_file(os.path.join(tmp, "broker", "broker.addr"))
        d = Daemon(tmp, brokers)
        d.start()
        say("lotlined all started")

        # Phase 1: lots, receipts and some moves; all published.
        produce(brokers, flow.start() + flow.moves(MOVES // 4, 0))
        wait_log(d, len(flow.accepted))
        say("phase 1: log at %d" % log_position(d.http))

        # Phase 2: kill -9 while the log grows and is being published.
        before = len(flow.accepted)
        produce(brokers, flow.moves(MOVES // 4, MOVES // 4))
        wait_log(d, before + (len(flow.accepted) - before) // 2)
        d.kill9()
        say("phase 2: killed (-9) with the log at %d" % before)
        d.start()
        wait_log(d, len(flow.accepted))
        say("phase 2: restarted, log at %d" % log_position(d.http))

        # Phase 3: SIGTERM while publishing.
        before = len(flow.accepted)
        produce(brokers, flow.moves(MOVES // 4, MOVES // 2))
        wait_log(d, before + (len(flow.accepted) - before) // 2)
        d.term()
        say("phase 3: stopped (SIGTERM)")
        d.start()
        say("phase 3: restarted")

        # Phase 4: the rest.
        produce(brokers, flow.moves(MOVES // 4, 3 * MOVES // 4))
        last = wait_log(d, len(flow.accepted))
        time.sleep(0.5)
        assert log_position(d.http) == len(flow.accepted), \
            "log holds %d events, the model accepted %d" % (
                log_position(d.http), len(flow.accepted))

        say("phase 4: log at %d" % last)
        # The publisher keeps nothing of its own: Kafka says where it is.
        assert not os.path.exists(os.path.join(d.data, "publisher")), \
            "the publisher wrote a state directory"

        # lots.events
        recs = wait_published(brokers, last)
        firsts, repeats = split_repeats(recs, lambda k, v: k)
        by_part = {}
        for part, off, key, value, pos in firsts:
            by_part.setdefault(part, []).append(pos)
        for part, ps in by_part.items():
            assert sorted(ps) == list(range(1, len(ps) + 1)), \
                "partition %d: positions not 1..N_p" % part
        assert sum(len(ps) for ps in by_part.values()) == last
        product_parts = {}
        for part, off, key, value, pos in firsts:
            product_parts.setdefault(key, set()).add(part)
        assert all(len(ps) == 1 for ps in product_parts.values()), \
            "a product on several partitions: %s" % product_parts
        ids = []
        for part, off, key, value, pos in sorted(firsts,
                                                 key=lambda r: (r[0], r[4])):
            name, rec = decode(by_fp, value)
            assert name in ("LotCreated", "LotUpdated", "StockMoved"), name
            assert key.decode() == rec["product_id"], (key, rec)
            ids.append(rec["event_id"])
        assert sorted(ids) == sorted(flow.accepted), "accepted ids differ"
        assert len(set(ids)) == len(ids), "an event id twice in the log"
        for part, ps in repeats_by_partition(repeats).items():
            assert max(ps) - min(ps) < BATCH, \
                "partition %d: repeats span more than one transaction: " \
                "%d..%d" % (part, min(ps), max(ps))

        say("lots.events checked")

        # lots.quantities: the last record per key, as compaction keeps.
        qrecs = read_topic(brokers, "lots.quantities")
        qfirsts, qrepeats = split_repeats(qrecs, lambda k, v: k)
        latest = {}
        for part, off, key, value, pos in qrecs:
            name, rec = decode(by_fp, value)
            assert name == "QuantityChanged", name
            # A lot is (product_id, lot_id): the key names both.
            product, lot, loc = key.decode().split("\x1f")
            assert (rec["product_id"], rec["lot_id"], rec["location"]) == \
                (product, lot, loc), rec
            assert rec["position"] == pos, (rec, pos)
            assert 1 <= pos <= last
            latest[key] = rec
        for part, ps in repeats_by_partition(qrepeats).items():
            assert max(ps) - min(ps) < BATCH, (part, ps)
        n_rows = 0
        for product, lot_id, serial in flow.lots:
            api = json.loads(get(
                "http://%s/v1/products/%s/lots/%s/locations?all=1" %
                (d.http, product, lot_id)))
            want = {(r["location"], r["usage"]): decimal.Decimal(r["quantity"])
                    for r in api["locations"]}
            got = {(r["location"], r["usage"]): r["quantity"]
                   for k, r in latest.items()
                   if r["lot_id"] == lot_id and r["product_id"] == product
                   and r["quantity"] != 0}
            assert got == want, "%s: stream %s, API %s" % (lot_id, got, want)
            model = {loc: q for (lot, loc), q in flow.qty.items()
                     if lot == lot_id and q != 0}
            assert {loc: q for (loc, _), q in got.items()} == model, lot_id
            n_rows += len(want)
        print("streams: %d events (%d rejected by the rules), %d quantity "
              "records, %d lots / %d location rows equal to the API; "
              "repeats: %d in lots.events (positions %s), %d in "
              "lots.quantities" % (
                  last, flow.rejected, len(qrecs), len(flow.lots), n_rows,
                  len(repeats),
                  ", ".join("%d: %d..%d" % (p, min(ps), max(ps)) for p, ps in
                            sorted(repeats_by_partition(repeats).items()))
                  or "-",
                  len(qrepeats)))
        d.term()
        d = None
        ok = True
    finally:
        if d is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
        blog.close()
        if not ok:
            with open(os.path.join(tmp, "lotlined.log")) as f:
                sys.stderr.write(f.read()[-8000:])
        if os.environ.get("LOTLINE_KEEP_TMP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
