"""stream_model.py — the cluster test's input stream and its reference model.

An independent producer's view of lotline: a seeded, deterministic stream of
LotCreated and StockMoved events over a few dozen products, encoded with
python3-avro from the .avsc files (Avro single-object encoding,
docs/events.md) and keyed by product_id, and a model that decides every
event with the rules the stream exercises (docs/rejections.md):

  - LotCreated of a new lot: accepted; of a lot id the product already has:
    LOT_ID_TAKEN (with a fresh name, so DUPLICATE_LOT cannot apply);
  - StockMoved from a SUPPLIER into an INTERNAL location, between INTERNAL
    locations, from INTERNAL to a CUSTOMER: accepted when the source has
    enough (virtual locations may go negative), else INSUFFICIENT_STOCK;
  - the same bytes again: a no-op (the recorded outcome); other content
    under a used event id: EVENT_ID_REUSED, not remembered.

Every rule the stream touches is local to one product, so its outcome does
not depend on how partitions interleave: lot ids are unique across all
products, every location keeps one usage, a reused event id is always one
of the same product's. The stream means the same to one instance, to a
cluster, and before and after lot ids become unique per product only.

The model gives, for every lot, the expected `GET
/v1/lots/{lot_id}/locations?all=1` (product, on hand, the non-zero
quantities per location and usage) and the expected rejections (event id
-> code).
"""
import datetime
import decimal
import io
import os
import random
import struct
import sys

import avro.io
import avro.schema

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from test_python_client import canonical_form, crc64_avro  # noqa: E402

T0_MS = 1767225600000           # 2026-01-01T00:00:00Z: fixed event times
SCALE = decimal.Decimal("0.000001")
PARTITION_BYTES_MAX = 1 << 20   # the embedded broker keeps about 5 MB

# One usage per location, for ever (LOCATION_USAGE_CONFLICT spans products).
LOCATIONS = {
    "CK/Vendors/Acme": "SUPPLIER",
    "CK/Vendors/Zeta": "SUPPLIER",
    "CK/WH1/Stock": "INTERNAL",
    "CK/WH1/Shelf-A": "INTERNAL",
    "CK/WH2/Stock": "INTERNAL",
    "CK/Customers/Bob": "CUSTOMER",
    "CK/Customers/Eve": "CUSTOMER",
}
SUPPLIERS = [k for k, v in LOCATIONS.items() if v == "SUPPLIER"]
INTERNAL = [k for k, v in LOCATIONS.items() if v == "INTERNAL"]
CUSTOMERS = [k for k, v in LOCATIONS.items() if v == "CUSTOMER"]
ON_HAND_USAGES = ("INTERNAL", "TRANSIT")

# Share of the events that are deliberate rejections and redeliveries.
P_INSUFFICIENT = 0.012
P_LOT_ID_TAKEN = 0.008
P_REUSED = 0.008
P_REDELIVERY = 0.03


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's, librdkafka's murmur2 partitioner)."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    tail = len(data) & ~3
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    extra = len(data) & 3
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Wire:
    """The writer schemas (highest version of each record under schemas/)
    and Avro single-object encoding."""

    def __init__(self, schemas_dir):
        found = {}
        for fn in os.listdir(schemas_dir):
            if not fn.endswith(".avsc"):
                continue
            record, version = fn.split(".")[0], int(fn.split(".")[1][1:])
            if version > found.get(record, (0, None))[0]:
                found[record] = (version, os.path.join(schemas_dir, fn))
        self.schemas = {}
        for record, (_, path) in found.items():
            with open(path) as f:
                self.schemas[record] = avro.schema.parse(f.read())

    def encode(self, record, datum) -> bytes:
        schema = self.schemas[record]
        buf = io.BytesIO()
        avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
        fp = crc64_avro(canonical_form(schema).encode())
        return b"\xc3\x01" + struct.pack("<Q", fp) + buf.getvalue()


def at(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


class Event:
    """One record for lots.inbound and what the model expects of it."""
    __slots__ = ("product", "value", "event_id", "kind", "partition")

    def __init__(self, product, value, event_id, kind, partition):
        self.product, self.value, self.event_id = product, value, event_id
        self.kind, self.partition = kind, partition


class Lot:
    def __init__(self, product, name):
        self.product, self.name = product, name
        self.qty = {}                         # location -> Decimal

    def at(self, location):
        return self.qty.get(location, decimal.Decimal(0))

    def add(self, location, delta):
        self.qty[location] = self.at(location) + delta

    def expected(self):
        """What GET /v1/lots/{id}/locations?all=1 must answer."""
        rows = {(loc, LOCATIONS[loc]): q for loc, q in self.qty.items() if q}
        on_hand = sum((q for (loc, usage), q in rows.items()
                       if usage in ON_HAND_USAGES), decimal.Decimal(0))
        return {"product_id": self.product, "on_hand": on_hand,
                "locations": rows}


class Model:
    """The rules the stream exercises, applied in each product's order."""

    def __init__(self, wire, partitions):
        self.wire, self.partitions = wire, partitions
        self.lots = {}          # lot_id -> Lot
        self.seen = {}          # event_id -> value bytes (first content)
        self.rejections = {}    # event_id -> code, the remembered ones
        self.reused = {}        # event_id -> count of EVENT_ID_REUSED
        self.partition = {}     # rejected event_id -> its partition
        self.accepted = 0
        self.clock_ms = T0_MS

    def _event(self, product, event_id, kind, record, datum):
        self.clock_ms += 1000
        datum = dict(datum, event_id=event_id, occurred_at=at(self.clock_ms),
                     product_id=product)
        value = self.wire.encode(record, datum)
        return self.decide(Event(product, value, event_id, kind,
                                 partition_of(product, self.partitions)))

    def decide(self, ev):
        """Apply one event to the model; returns it."""
        first = self.seen.get(ev.event_id)
        if first is not None:
            if first != ev.value:
                self.reused[ev.event_id] = self.reused.get(ev.event_id, 0) + 1
                self.partition[ev.event_id] = ev.partition
            return ev
        self.seen[ev.event_id] = ev.value
        if ev.kind.startswith("reject:"):
            self.rejections[ev.event_id] = ev.kind[len("reject:"):]
            self.partition[ev.event_id] = ev.partition
        else:
            self.accepted += 1
        return ev

    def create(self, product, lot_id, name, event_id, taken=False):
        ev = self._event(product, event_id,
                         "reject:LOT_ID_TAKEN" if taken else "create",
                         "LotCreated", {
                             "lot_id": lot_id, "name": name, "tracking": "LOT",
                             "reference": None, "description": None,
                             "expiration_at": None, "use_by_at": None,
                             "removal_at": None, "alert_at": None})
        if not taken and ev.event_id not in self.rejections:
            self.lots[lot_id] = Lot(product, name)
        return ev

    def move(self, product, lot_id, qty, src, dst, event_id, kind="move",
             by_name=False):
        """by_name: the event names its lot by lot_name alone (the log
        and lots.events hold it with the lot_id the rules found)."""
        lot = self.lots[lot_id]
        if kind == "move":
            assert LOCATIONS[src] not in ON_HAND_USAGES or lot.at(src) >= qty
        ev = self._event(product, event_id, kind, "StockMoved", {
            "lot_id": None if by_name else lot_id,
            "lot_name": lot.name if by_name else None,
            # python3-avro writes a Decimal's own digits: give it scale 6.
            "quantity": qty.quantize(SCALE),
            "from": {"id": src, "usage": LOCATIONS[src]},
            "to": {"id": dst, "usage": LOCATIONS[dst]},
            "reference": "CK-%d" % self.clock_ms})
        if kind == "move":
            lot.add(src, -qty)
            lot.add(dst, qty)
        return ev

    def expected_rejections(self):
        """event id -> code, each listed once by GET /v1/rejections."""
        out = dict(self.rejections)
        for eid in self.reused:
            out[eid] = "EVENT_ID_REUSED"
        return out


class Generator:
    """The seeded stream: products, their lots, moves, and the deliberate
    rejections and redeliveries."""

    def __init__(self, model, seed, products, lots_per_product,
                 by_name_share=0.0):
        self.m, self.rng = model, random.Random(seed)
        self.by_name_share = by_name_share  # of the good moves
        self.products = ["CK-P%02d" % i for i in range(products)]
        self.lots_per_product = lots_per_product
        self.created = {p: [] for p in self.products}    # lot ids
        self.history = {p: [] for p in self.products}    # redeliverable
        self.accepted_ids = {p: [] for p in self.products}
        self.n = 0

    def next_id(self, product):
        self.n += 1
        return "ck-%s-%05d" % (product, self.n)

    def step(self, product):
        """The next event of one product."""
        lots = self.created[product]
        if len(lots) < self.lots_per_product and (
                not lots or self.rng.random() < 0.15):
            return self.create(product)
        r = self.rng.random()
        if r < P_INSUFFICIENT:
            return self.insufficient(product)
        r -= P_INSUFFICIENT
        if r < P_LOT_ID_TAKEN:
            return self.lot_id_taken(product)
        r -= P_LOT_ID_TAKEN
        if r < P_REUSED and self.accepted_ids[product]:
            return self.reuse(product)
        r -= P_REUSED
        if r < P_REDELIVERY and self.history[product]:
            return self.m.decide(self.rng.choice(self.history[product]))
        return self.good_move(product)

    def remember(self, ev):
        self.history[ev.product].append(ev)
        if not ev.kind.startswith("reject:"):
            self.accepted_ids[ev.product].append(ev.event_id)
        return ev

    def create(self, product):
        k = len(self.created[product])
        lot_id = "%s-L%d" % (product, k)
        self.created[product].append(lot_id)
        return self.remember(self.m.create(product, lot_id, "B%d" % k,
                                           self.next_id(product)))

    def lot_id_taken(self, product):
        lot_id = self.rng.choice(self.created[product])
        name = "X%d" % self.n
        return self.remember(self.m.create(product, lot_id, name,
                                           self.next_id(product), taken=True))

    def insufficient(self, product):
        lot_id = self.rng.choice(self.created[product])
        src = self.rng.choice(INTERNAL)
        have = self.m.lots[lot_id].at(src)
        qty = have + decimal.Decimal(self.rng.randint(1, 1000)) / 100
        dst = self.rng.choice([d for d in INTERNAL + CUSTOMERS if d != src])
        return self.remember(self.m.move(
            product, lot_id, qty, src, dst, self.next_id(product),
            kind="reject:INSUFFICIENT_STOCK"))

    def reuse(self, product):
        """Other content under an accepted id of the same product; each id
        once, so GET /v1/rejections lists it once."""
        ids = self.accepted_ids[product]
        eid = ids.pop(self.rng.randrange(len(ids)))
        lot_id = self.rng.choice(self.created[product])
        qty = decimal.Decimal(self.rng.randint(1, 100))
        return self.m.move(product, lot_id, qty, SUPPLIERS[0], INTERNAL[0],
                           eid, kind="reuse")

    def good_move(self, product):
        lot_id = self.rng.choice(self.created[product])
        lot = self.m.lots[lot_id]
        stocked = [loc for loc in INTERNAL if lot.at(loc) > 0]
        r = self.rng.random()
        if not stocked or r < 0.3:
            qty = decimal.Decimal(self.rng.randint(1000, 50000)) / 100
            src, dst = self.rng.choice(SUPPLIERS), self.rng.choice(INTERNAL)
        else:
            src = self.rng.choice(stocked)
            have = lot.at(src)
            if r < 0.65:
                dst = self.rng.choice([d for d in INTERNAL if d != src])
            else:
                dst = self.rng.choice(CUSTOMERS)
            if self.rng.random() < 0.2:
                qty = have
            else:
                cents = self.rng.randint(1, max(1, int(have * 100) // 2))
                qty = decimal.Decimal(cents) / 100
        # No draw when no share: the other tests' streams stay as they were.
        by_name = (self.by_name_share > 0 and
                   self.rng.random() < self.by_name_share)
        return self.remember(self.m.move(product, lot_id, qty, src, dst,
                                         self.next_id(product),
                                         by_name=by_name))

    def stream(self, count):
        out = []
        for _ in range(count):
            out.append(self.step(self.rng.choice(self.products)))
        return out


def probe_product(partition, partitions):
    """A product id that murmur2 puts on `partition`."""
    for k in range(100000):
        product = "CK-PROBE-%d-%d" % (partition, k)
        if partition_of(product, partitions) == partition:
            return product
    raise AssertionError("no probe product for partition %d" % partition)


def probe_lot_id(round_name, partition):
    return "CK-PROBE-%s-%d" % (round_name, partition)


def probes(model, round_name):
    """One new lot per partition: visible through the API once some
    instance processes that partition again."""
    out = []
    for p in range(model.partitions):
        product = probe_product(p, model.partitions)
        lot_id = probe_lot_id(round_name, p)
        ev = model.create(product, lot_id, lot_id,
                          "ck-probe-%s-%d" % (round_name, p))
        assert ev.partition == p
        out.append(ev)
    return out


def build(schemas_dir, seed, events, products, lots_per_product, partitions,
          by_name_share=0.0):
    """The model and the stream (its events already applied to the model);
    by_name_share of the good moves name their lot by lot_name alone."""
    model = Model(Wire(schemas_dir), partitions)
    gen = Generator(model, seed, products, lots_per_product, by_name_share)
    stream = gen.stream(events)
    per_partition = {}
    for ev in stream:
        size = len(ev.value) + len(ev.product) + 64
        per_partition[ev.partition] = per_partition.get(ev.partition, 0) + size
    biggest = max(per_partition.values())
    assert biggest < PARTITION_BYTES_MAX, (
        "partition data %d bytes: over %d, the embedded broker would drop "
        "the oldest" % (biggest, PARTITION_BYTES_MAX))
    return model, stream, biggest
