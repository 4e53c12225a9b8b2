#!/usr/bin/python3
"""The hold-out check of lotline as a cluster (docs: tests/cluster/README.md).

N `lotlined all` instances share one consumer group on one broker. An
independent producer (stream_model.py) sends a seeded stream of lots and
moves, with deliberate rejections and redeliveries, at a steady rate; about
a third of the way in one instance is killed with SIGKILL, about two thirds
in it is restarted on its data directory. Once the cluster has settled:

  - every lot's `GET /v1/lots/{lot_id}/locations?all=1` equals the
    reference model, on every instance (`--check every`) or on at least
    one (`--check any`);
  - `GET /v1/rejections` lists each expected rejection exactly once per
    event id, and nothing else (on every instance, or: on some instance,
    never twice on one);
  - after a clean stop (every instance exits 0), `lotline verify` passes on
    every instance's data directory.

It also measures failover: at the kill it sends one probe lot to every
partition of lots.inbound and times, from outside, how long until each is
visible through some live instance's API (that partition processes again).
Over `--failover-max-s` is a failure.

Exits 0 when everything matches, 1 with a summary of every mismatch, 77
when a prerequisite is missing (a failure instead under
LOTLINE_TEST_REQUIRE_PREREQS=1).
"""
import argparse
import decimal
import importlib.util
import os
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_EXIT = 77
SHOW_IN_FULL = 20
POLL_S = 0.25


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--seed", type=int, default=20270301)
    p.add_argument("--no-kill", action="store_true",
                   help="no SIGKILL and restart")
    p.add_argument("--check", choices=("any", "every"), default="every")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    p.add_argument("--events", type=int, default=2400)
    p.add_argument("--products", type=int, default=20)
    p.add_argument("--lots", type=int, default=3, help="lots per product")
    p.add_argument("--duration", type=float, default=30.0,
                   help="seconds over which the stream is sent")
    p.add_argument("--partitions", type=int, default=12)
    p.add_argument("--kill-index", type=int, default=None,
                   help="instance to kill (default: the last)")
    p.add_argument("--failover-max-s", type=float, default=15.0,
                   help="longest failover that passes (0: measure only)")
    p.add_argument("--settle-timeout", type=float, default=120.0)
    p.add_argument("--quiet-s", type=float, default=20.0,
                   help="settled when nothing moved this long")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="one more lotlined setting for every instance")
    a = p.parse_args()
    if a.instances < 1:
        p.error("--instances must be at least 1")
    if a.instances == 1 and not a.no_kill:
        p.error("one instance cannot fail over: add --no-kill")
    if a.kill_index is None:
        a.kill_index = a.instances - 1
    if not 0 <= a.kill_index < a.instances:
        p.error("--kill-index must name one of the %d instances" % a.instances)
    return a


def missing_prereqs():
    bins = os.environ.get("LOTLINE_BIN", "build/bin")
    missing = [m for m in ("confluent_kafka", "avro")
               if importlib.util.find_spec(m) is None]
    for b in ("lotlined", "lotline"):
        if not os.access(os.path.join(bins, b), os.X_OK):
            missing.append(os.path.join(bins, b))
    return missing


def exit_if_missing():
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


exit_if_missing()
sys.path.insert(0, HERE)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
import cluster_kit as kit  # noqa: E402
import stream_model as sm  # noqa: E402

say = kit.say


# ---- producing ----

def new_producer(brokers):
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


def send_probes(p, topic, evs):
    for ev in evs:
        p.produce(topic, key=ev.product.encode(), value=ev.value)
    assert p.flush(30) == 0, "probes not delivered"
    return time.time()


class ProbeRound:
    """One probe lot per partition, and when each became visible."""

    def __init__(self, name, evs, since, what):
        self.name, self.sent_at, self.what = name, since, what
        self.pending = {ev.partition: sm.probe_lot_id(name, ev.partition)
                        for ev in evs}
        self.seen_s = {}

    def poll(self, instances):
        for part, lot in list(self.pending.items()):
            path = "/v1/lots/%s" % urllib.parse.quote(lot, safe="")
            if any(i.get(path)[0] == 200 for i in instances):
                self.seen_s[part] = time.time() - self.sent_at
                del self.pending[part]
        return not self.pending

    def worst_s(self):
        return max(self.seen_s.values()) if self.seen_s else None

    def describe(self):
        if self.pending:
            return "%s: %d/%d partitions processing, still waiting for %s" % (
                self.name, len(self.seen_s), len(self.seen_s) +
                len(self.pending), sorted(self.pending))
        slow = sorted(self.seen_s.items(), key=lambda kv: -kv[1])[:3]
        return "%s: every partition processing %.2fs after %s (slowest %s)" % (
            self.name, self.worst_s(), self.what,
            ", ".join("p%d %.2fs" % kv for kv in slow))


# ---- the run: stream, kill, restart ----

class Run:
    def __init__(self, args, cluster, model, stream):
        self.a, self.c, self.m, self.stream = args, cluster, model, stream
        self.topic = "lots.inbound"
        self.rounds = []
        self.ready_after_restart_s = None
        self.log_positions = "-"
        self.failures = []        # (kind, subject, instance, expected, got)
        self.coverage_s = None    # kill -> live instances own every partition

    def probe(self, name, since=None, what="they were sent"):
        evs = sm.probes(self.m, name)
        sent_at = send_probes(self.prober, self.topic, evs)
        r = ProbeRound(name, evs, since or sent_at, what)
        self.rounds.append(r)
        say("probes '%s' sent to %d partitions" % (name, len(evs)))
        return r

    def poll_rounds(self):
        live = self.c.live()
        for r in self.rounds:
            if r.pending:
                r.poll(live)

    def watch_coverage(self, since):
        if self.coverage_s is not None:
            return
        owned = set()
        for inst in self.c.live():
            owned |= inst.metrics()[1]
        if len(owned) == self.a.partitions:
            self.coverage_s = time.time() - since

    def wait_progress(self, fraction, extra=None):
        while self.feeder.progress() < fraction and \
                not self.feeder.done.is_set():
            self.poll_rounds()
            if extra:
                extra()
            time.sleep(POLL_S)

    def run(self):
        self.feeder = Feeder(self.c.brokers, self.topic, self.stream,
                             self.a.duration)
        # Connected before the kill, so probes leave at once.
        self.prober = new_producer(self.c.brokers)
        self.prober.list_topics(self.topic, timeout=10)
        self.feeder.start()
        say("producing %d events over %.0fs" % (len(self.stream),
                                                self.a.duration))
        self.wait_progress(1 / 3)
        if self.a.no_kill:
            self.probe("nokill")
        else:
            self.kill_and_restart()
        while not self.feeder.done.is_set():
            self.poll_rounds()
            time.sleep(POLL_S)
        self.feeder.join()
        for e in self.feeder.errors[:SHOW_IN_FULL]:
            self.fail("produce", e, "-", "delivered", "not")
        say("stream sent (%d events)" % len(self.stream))

    def kill_and_restart(self):
        k = self.a.kill_index
        self.c.kill9(k)
        killed_at = time.time()
        kill_round = self.probe("kill", killed_at, "the kill")
        self.wait_progress(2 / 3, lambda: self.watch_coverage(killed_at))
        limit = self.a.failover_max_s
        while kill_round.pending and limit and \
                time.time() - killed_at < limit:
            self.poll_rounds()
            self.watch_coverage(killed_at)
            time.sleep(POLL_S)
        say("before the restart: " + kill_round.describe())
        self.c.restart(k)
        restarted_at = time.time()
        inst = self.c.instances[k]
        while inst.get("/readyz")[0] != 200 and inst.alive() and \
                time.time() - restarted_at < kit.START_TIMEOUT_S:
            self.poll_rounds()
            time.sleep(POLL_S)
        self.ready_after_restart_s = time.time() - restarted_at
        say("%s ready %.2fs after its restart" % (inst.name,
                                                  self.ready_after_restart_s))
        self.probe("join", restarted_at, "the restart (sent once ready)")

    def fail(self, kind, subject, instance, expected, got):
        self.failures.append((kind, subject, instance, expected, got))


# ---- settling ----

def committed_lag(brokers, group, topic, partitions):
    """Sum over partitions of (high watermark - the group's committed
    offset), as any lag tool sees it; None when the broker cannot say."""
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


def settle(run):
    """Until the group has consumed everything, every instance is ready
    with its views at its log, and two looks a second apart agree; or
    nothing moved for --quiet-s; or --settle-timeout."""
    a, c = run.a, run.c
    t0 = time.time()
    last, last_change, stable = None, time.time(), 0
    while True:
        run.poll_rounds()
        lag = committed_lag(c.brokers, c.group, run.topic, a.partitions)
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
        if time.time() - last_change > a.quiet_s:
            return "quiet for %.0fs (not caught up: lag %s)" % (a.quiet_s, lag)
        if time.time() - t0 > a.settle_timeout:
            run.fail("settle", "cluster", "-", "settled within %.0fs" %
                     a.settle_timeout, "still moving")
            return "not settled within %.0fs" % a.settle_timeout
        time.sleep(1)


def fmt_num(v):
    return "-" if v is None else "%d" % v


# ---- checks ----

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


def owners_of(instances):
    """partition -> the instances consuming it now, as their
    lotline_consumer_lag_messages labels say (empty when they do not)."""
    owners = {}
    for inst in instances:
        for p in inst.metrics()[1]:
            owners.setdefault(p, []).append(inst.name)
    return owners


def judges(run, owners, partition, names):
    """The instances whose answer must be right: every one for --check
    every; for --check any the partition's owners, or None (then at least
    one instance) when no instance says it owns it."""
    if run.a.check == "every":
        return names
    return owners.get(partition)


def check_lots(run, instances, owners):
    wrong = {i.name: {"unknown": 0, "different": 0} for i in instances}
    names = [i.name for i in instances]
    for lot_id, lot in sorted(run.m.lots.items()):
        want = lot.expected()
        got = {i.name: lot_answer(i, lot_id) for i in instances}
        bad = [n for n, g in got.items() if g != want]
        for n in bad:
            wrong[n]["different" if isinstance(got[n], dict) else
                     "unknown"] += 1
        judge = judges(run, owners,
                       sm.partition_of(lot.product, run.a.partitions), names)
        if judge is not None:
            for n in judge:
                if n in bad:
                    run.fail("lot", lot_id, n, show_locations(want),
                             show_locations(got[n]))
        elif len(bad) == len(instances):
            run.fail("lot", lot_id, "all", show_locations(want), "; ".join(
                "%s: %s" % (n, show_locations(g)) for n, g in got.items()))
    return wrong


def rejections_of(inst):
    status, body = inst.get("/v1/rejections?limit=1000")
    if status != 200 or not isinstance(body, dict):
        return None
    return body.get("rejections", [])


def check_rejections(run, instances, owners):
    want = run.m.expected_rejections()
    listed = {}          # instance -> {event_id: [codes]}
    for inst in instances:
        rows = rejections_of(inst)
        if rows is None:
            run.fail("rejections", "GET /v1/rejections", inst.name, "200",
                     "no answer")
            rows = []
        if len(rows) >= 1000:
            run.fail("rejections", "GET /v1/rejections", inst.name,
                     "under 1000 rows", "truncated at %d" % len(rows))
        by_id = {}
        for r in rows:
            by_id.setdefault(r.get("event_id"), []).append(r.get("code"))
        listed[inst.name] = by_id
    for name, by_id in listed.items():
        for eid, codes in sorted(by_id.items(), key=lambda kv: str(kv[0])):
            if eid not in want:
                run.fail("rejection", eid, name, "none", ",".join(codes))
            elif len(codes) > 1:
                run.fail("rejection", eid, name, "once: " + want[eid],
                         "%d times: %s" % (len(codes), ",".join(codes)))
            elif codes[0] != want[eid]:
                run.fail("rejection", eid, name, want[eid], codes[0])
    for eid, code in sorted(want.items()):
        have = [n for n, by_id in listed.items() if eid in by_id]
        judge = judges(run, owners, run.m.partition[eid], sorted(listed))
        if judge is not None:
            for n in sorted(set(judge) - set(have)):
                run.fail("rejection", eid, n, code, "missing")
        elif not have:
            run.fail("rejection", eid, "all", code, "missing")
    return len(want)


def check_failover(run):
    limit = run.a.failover_max_s
    for r in run.rounds:
        say("probes " + r.describe())
        if r.name == "kill" and limit:
            worst = r.worst_s()
            if r.pending or worst is None or worst > limit:
                run.fail("failover", "kill -> every partition processing",
                         "-", "within %.0fs" % limit,
                         r.describe())
    if run.coverage_s is None and run.a.kill_index is not None and \
            not run.a.no_kill:
        say("assignment (lotline_consumer_lag_messages of the live instances)"
            " did not cover every partition before the restart")
    if run.coverage_s is not None:
        say("assignment (lotline_consumer_lag_messages of the live instances)"
            " covered every partition %.2fs after the kill" % run.coverage_s)


def verify_all(run):
    for inst in run.c.instances:
        out = subprocess.run(
            [os.path.join(kit.BIN, "lotline"), "verify", "--data", inst.data],
            capture_output=True, text=True, env=kit.child_env(), timeout=120)
        line = (out.stdout + out.stderr).strip().splitlines()
        say("lotline verify %s: exit %d: %s" % (inst.name, out.returncode,
                                                line[-1] if line else ""))
        if out.returncode != 0:
            run.fail("verify", inst.data, inst.name, "exit 0",
                     "exit %d: %s" % (out.returncode, " / ".join(line)))


# ---- report ----

def summarize(run, wrong_lots, n_rejections):
    f = run.failures
    print()
    print("==== cluster check: %d instance(s), seed %d, check %s, %s ====" % (
        run.a.instances, run.a.seed, run.a.check,
        "no kill" if run.a.no_kill else "kill -9 of i%d" % run.a.kill_index))
    print("lots %d, expected rejections %d, events sent %d (+%d probes)" % (
        len(run.m.lots), n_rejections, len(run.stream),
        sum(len(r.seen_s) + len(r.pending) for r in run.rounds)))
    for name, n in sorted(wrong_lots.items()):
        print("  %s: %d of %d lots wrong (%d not found or no answer, %d with "
              "other quantities)" % (name, n["unknown"] + n["different"],
                                     len(run.m.lots), n["unknown"],
                                     n["different"]))
    for r in run.rounds:
        print("  probes " + r.describe())
    if run.ready_after_restart_s is not None:
        print("  restarted instance ready (/readyz 200) %.2fs after its "
              "restart" % run.ready_after_restart_s)
    print("  model: %d events accepted; log positions at the end: %s" % (
        run.m.accepted, run.log_positions))
    if not f:
        print("PASS")
        return 0
    print("FAIL: %d mismatch(es); the first %d:" % (len(f), min(len(f),
                                                           SHOW_IN_FULL)))
    for kind, subject, inst, want, got in f[:SHOW_IN_FULL]:
        print("  [%s] %s on %s\n      expected: %s\n      got:      %s" % (
            kind, subject, inst, want, got))
    counts = {}
    for kind, _, inst, _, _ in f:
        counts[(kind, inst)] = counts.get((kind, inst), 0) + 1
    print("all mismatches by kind and instance:")
    for (kind, inst), n in sorted(counts.items()):
        print("  %-12s %-5s %d" % (kind, inst, n))
    return 1


def main():
    a = parse_args()
    schemas = os.environ.get("LOTLINE_SCHEMAS", "schemas")
    model, stream, biggest = sm.build(schemas, a.seed, a.events, a.products,
                                      a.lots, a.partitions)
    say("stream: %d events, %d lots, %d expected rejections, %d redeliveries;"
        " largest partition %d bytes" % (
            len(stream), len(model.lots), len(model.expected_rejections()),
            len(stream) - len({(e.event_id, e.value) for e in stream}),
            biggest))
    c = kit.Cluster(a.instances, a.partitions, settings=a.set, keep=a.keep)
    run = Run(a, c, model, stream)
    try:
        c.start()
        run.run()
    except (RuntimeError, AssertionError) as e:
        print("FAIL: %s\n%s" % (e, c.logs(15)))
        return 1
    say("settle: " + settle(run))
    for inst in c.died():
        run.fail("process", "exited unexpectedly with %s" %
                 inst.proc.popen.returncode, inst.name, "running", "dead")
    run.prober = None   # closed before the broker stops
    live = c.live()
    run.log_positions = ", ".join("%s %s" % (i.name, fmt_num(
        i.metrics()[0].get("lotline_log_position"))) for i in live)
    owners = owners_of(live)
    if a.check == "any":
        say("owners (lotline_consumer_lag_messages): %s" % (", ".join(
            "p%d %s" % (p, "+".join(n)) for p, n in sorted(owners.items()))
            or "none known: a lot must be right on some instance"))
    wrong = check_lots(run, live, owners)
    n_rej = check_rejections(run, live, owners)
    check_failover(run)
    for name, rc in sorted(c.stop_all().items()):
        if rc != 0:
            run.fail("stop", "SIGTERM", name, "exit 0", "exit %s" % rc)
    verify_all(run)
    code = summarize(run, wrong, n_rej)
    if code:
        print(c.logs(15))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
