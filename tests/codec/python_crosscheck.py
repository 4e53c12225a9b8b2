#!/usr/bin/python3
"""Cross-check the C codec against the Python avro package (python3-avro).

Modes (the C test test_codec_python.c drives them):
  fingerprints DIR          one line per DIR/*.avsc:
                            file <TAB> CRC-64-AVRO hex <TAB> canonical form
  encode DIR                Avro binary of fixed sample records, one line each:
                            record <TAB> hex
  decode DIR RECORD HEX     decode HEX with RECORD's schema and compare with
                            the same fixed sample; exit 0 when equal

Exit status 77 means "cannot run here" (no avro package): the C test skips.

python3-avro 1.11.1 writes a logical-typed primitive in canonical form as
{"type":"long"}, while the Java reference implementation (whose fingerprints
producers use) writes "long": a logical type is not part of the parsing
form. The logical-type attributes are therefore removed before the schema is
handed to Python's canonical_form; everything else is Python's own work.
"""
import datetime
import decimal
import glob
import io
import json
import os
import sys

try:
    import avro.io
    import avro.schema
except ImportError:
    sys.exit(77)

EMPTY64 = 0xC15D213AA4D7A795


def crc64_avro(data):
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY64 & -(fp & 1))
        table.append(fp)
    fp = EMPTY64
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def strip_logical(node):
    if isinstance(node, list):
        return [strip_logical(x) for x in node]
    if isinstance(node, dict):
        out = {k: strip_logical(v) for k, v in node.items()}
        if isinstance(out.get("type"), str) and out["type"] in PRIMITIVES:
            for key in ("logicalType", "precision", "scale"):
                out.pop(key, None)
        return out
    return node


def load(path, logical=True):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not logical:
        doc = strip_logical(doc)
    return avro.schema.parse(json.dumps(doc))


def schema_path(directory, record):
    paths = glob.glob(os.path.join(directory, record + ".v*.avsc"))
    return max(paths, key=lambda p: int(p.rsplit(".v", 1)[1].split(".")[0]))


UTC = datetime.timezone.utc


def ms(v):
    return datetime.datetime.fromtimestamp(v / 1000, tz=UTC)


SAMPLES = {
    "LotCreated": {
        "event_id": "py-ev-1",
        "occurred_at": ms(1767225600123),
        "product_id": "P-100",
        "lot_id": "lot-py-1",
        "name": "LOT-\u00e9t\u00e9-2027",
        "tracking": "SERIAL",
        "reference": "PO-77",
        "description": None,
        "expiration_at": ms(1830297600000),
        "use_by_at": None,
        "removal_at": ms(1827619200000),
        "alert_at": None,
        "uom": "kg",
        "properties": {"origin": "DE", "supplier_batch": "B-7"},
    },
    "StockMoved": {
        "event_id": "py-ev-2",
        "occurred_at": ms(1767225600999),
        "product_id": "P-100",
        "lot_id": None,
        "lot_name": "LOT-7",
        "quantity": decimal.Decimal("-12.345678"),
        "from": {"id": "WH/Stock/Shelf-2", "usage": "INTERNAL"},
        "to": {"id": "Partners/Customers", "usage": "CUSTOMER"},
        "reference": "WH/OUT/0001",
        "partner": {"id": "C-42", "name": "Caf\u00e9 Bob"},
        "uom": "kg",
    },
}


def encode(directory):
    for record, datum in SAMPLES.items():
        schema = load(schema_path(directory, record))
        buf = io.BytesIO()
        avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
        print(record + "\t" + buf.getvalue().hex())


def decode(directory, record, hexdata):
    schema = load(schema_path(directory, record))
    reader = avro.io.DatumReader(schema, schema)
    datum = reader.read(avro.io.BinaryDecoder(io.BytesIO(bytes.fromhex(hexdata))))
    if datum != SAMPLES[record]:
        print("python decoded %r\nexpected %r" % (datum, SAMPLES[record]))
        return 1
    return 0


def fingerprints(directory):
    for path in sorted(glob.glob(os.path.join(directory, "*.avsc"))):
        canonical = load(path, logical=False).canonical_form
        fp = crc64_avro(canonical.encode("utf-8"))
        print("%s\t%016x\t%s" % (os.path.basename(path), fp, canonical))


def main(argv):
    if len(argv) >= 3 and argv[1] == "fingerprints":
        fingerprints(argv[2])
    elif len(argv) >= 3 and argv[1] == "encode":
        encode(argv[2])
    elif len(argv) >= 5 and argv[1] == "decode":
        return decode(argv[2], argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
