#!/usr/bin/python3
"""Date alerts exactly once across kill -9.

`lotlined broker` runs on its own (so lots.alerts outlives lotlined) and
`lotlined all --brokers` against it. Lots with stock whose alert or
expiration date has passed, one whose removal date passes a few seconds
later, and one whose use-by date passed but that has no stock. lotlined is
killed with SIGKILL twice: once right after the first alerts, once around
the moment the later date passes, and restarted on the same data each
time. Then lots.alerts (read_committed, from the start, decoded with
schemas/LotDateReached.v1.avsc) must hold each (lot, kind, date) exactly
once, GET /v1/alerts the same, every one sent, and the counter must be
exposed."""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import avro.io
import avro.schema

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_streams import read_topic, wait_file  # noqa: E402

BIN = os.environ.get("LOTLINE_BIN", "build/bin")
SCHEMAS = os.environ.get("LOTLINE_SCHEMAS", "schemas")
DAY_MS = 86400000


class Daemon:
    def __init__(self, tmp, brokers):
        self.data = os.path.join(tmp, "data")
        self.brokers = brokers
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
             "--set", "kafka.session.timeout.ms=6000"],
            stdout=self.logf, stderr=self.logf)
        self.http = wait_file(addr)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def call(self, method, path, doc=None):
        req = urllib.request.Request(
            "http://%s%s" % (self.http, path),
            data=None if doc is None else json.dumps(doc).encode(),
            headers={"Content-Type": "application/json"}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                body = r.read()
                return r.status, (json.loads(body) if body[:1] in b"{["
                                  else body.decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def rfc3339(ms):
    """As lotline writes times: milliseconds only when there are any."""
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return base + (".%03dZ" % (ms % 1000) if ms % 1000 else "Z")


def setup_lots(d, now):
    lots = {
        "A1": {"alert_at": now - DAY_MS, "expiration_at": now + DAY_MS},
        "A2": {"use_by_at": now - DAY_MS},  # no stock: never an alert
        "A3": {"removal_at": now + 6000, "expiration_at": now + DAY_MS},
        "A4": {"expiration_at": now - DAY_MS},
    }
    for lot_id, dates in lots.items():
        body = {"lot_id": lot_id, "product_id": "MILK", "name": lot_id,
                "uom": "l"}
        body.update({k: rfc3339(v) for k, v in dates.items()})
        status, answer = d.call("POST", "/v1/lots", body)
        assert status == 201, answer
        if lot_id != "A2":
            status, answer = d.call("POST", "/v1/moves", {
                "product_id": "MILK", "lot_id": lot_id, "quantity": "10",
                "from": {"id": "Vendors", "usage": "SUPPLIER"},
                "to": {"id": "WH/Cold", "usage": "INTERNAL"}})
            assert status == 201, answer
    return {("A1", "ALERT", now - DAY_MS), ("A4", "EXPIRATION", now - DAY_MS),
            ("A3", "REMOVAL", now + 6000)}


def api_alerts(d):
    status, body = d.call("GET", "/v1/alerts?limit=1000")
    assert status == 200, body
    return body["alerts"]


def wait_alerts(d, count, timeout_s=60):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got = api_alerts(d)
        if len(got) >= count:
            return got
        time.sleep(0.1)
    raise AssertionError("fewer than %d alerts: %r" % (count, api_alerts(d)))


def topic_alerts(brokers):
    with open(os.path.join(SCHEMAS, "LotDateReached.v1.avsc")) as f:
        schema = avro.schema.parse(f.read())
    reader = avro.io.DatumReader(schema)
    out = []
    for rec in read_topic(brokers, "lots.alerts", headers=()):
        value = rec[3]
        assert value[:2] == b"\xc3\x01", value[:2]
        datum = reader.read(avro.io.BinaryDecoder(io.BytesIO(value[10:])))
        at = datum["at"]
        ms = at if isinstance(at, int) else int(at.timestamp() * 1000)
        out.append((datum["lot_id"], datum["kind"], ms))
    return out


def check(d, brokers, want):
    got = topic_alerts(brokers)
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    api = api_alerts(d)
    seen = sorted((a["lot_id"], a["kind"], a["at"]) for a in api)
    assert seen == sorted((lot, kind, rfc3339(at)) for lot, kind, at in want), \
        (seen, want)
    assert all(a["sent"] for a in api), api
    assert [a["sequence"] for a in api] == list(range(1, len(api) + 1)), api
    status, metrics = d.call("GET", "/metrics")
    assert "lotline_alerts_emitted_total" in metrics, metrics[:2000]
    # The rounds read the dates index: at least the due dates' rows.
    rows = [line for line in metrics.splitlines()
            if line.startswith("lotline_alerts_rows_read_total ")]
    assert rows and int(rows[0].split()[1]) >= len(want), metrics[:2000]
    print("lots.alerts and GET /v1/alerts: %s, each once" % sorted(got))


def main():
    tmp = tempfile.mkdtemp(prefix="lotline-alerts-")
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
        now = int(time.time()) * 1000
        want = setup_lots(d, now)
        wait_alerts(d, 2)
        d.kill9()  # right after the first alerts
        d.start()
        # Kill again around the moment A3's removal date passes.
        time.sleep(max(0.0, (now + 6000) / 1000.0 - time.time()))
        d.kill9()
        d.start()
        wait_alerts(d, 3)
        time.sleep(2.5)  # two more rounds: nothing more may come
        check(d, brokers, want)
        ok = True
    finally:
        if d and d.proc:
            d.proc.send_signal(signal.SIGTERM)
            try:
                d.proc.wait(15)
            except subprocess.TimeoutExpired:
                d.proc.kill()
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
        if not ok:
            with open(os.path.join(tmp, "lotlined.log")) as f:
                sys.stderr.write(f.read()[-6000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
