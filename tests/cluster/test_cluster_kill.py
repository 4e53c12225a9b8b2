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
  - lots.events, lots.quantities and lots.rejected hold exactly what the
    model accepted and rejected, repeats only byte-identical
    (cluster_checks.py);
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
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
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


sys.path.insert(0, HERE)
import cluster_checks as cc  # noqa: E402

cc.exit_if_missing()
import cluster_kit as kit  # noqa: E402
import stream_model as sm  # noqa: E402

say = kit.say


# ---- producing ----

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
        self.fail = cc.Failures()
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
        self.feeder = cc.Feeder(self.c.brokers, self.topic, self.stream,
                             self.a.duration)
        # Connected before the kill, so probes leave at once.
        self.prober = cc.new_producer(self.c.brokers)
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
        self.feeder.finish(self.fail)
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

    def probe_ids(self):
        return frozenset("ck-probe-%s-%d" % (r.name, p) for r in self.rounds
                         for p in list(r.seen_s) + list(r.pending))


# ---- checks ----

def judges_of(run, owners):
    """--check every: each instance must be right; --check any: the
    partition's owners, or one instance when no instance names it."""
    if run.a.check == "every":
        return cc.every_instance
    return lambda partition, _names: owners.get(partition)


def owners_of(instances):
    """partition -> the instances consuming it now, as their
    lotline_consumer_lag_messages labels say (empty when they do not)."""
    owners = {}
    for inst in instances:
        for p in inst.metrics()[1]:
            owners.setdefault(p, []).append(inst.name)
    return owners


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


# ---- report ----

def summarize(run, wrong_lots, n_rejections):
    print()
    print("==== cluster check: %d instance(s), seed %d, check %s, %s ====" % (
        run.a.instances, run.a.seed, run.a.check,
        "no kill" if run.a.no_kill else "kill -9 of i%d" % run.a.kill_index))
    print("lots %d, expected rejections %d, events sent %d (+%d probes)" % (
        len(run.m.lots), n_rejections, len(run.stream),
        sum(len(r.seen_s) + len(r.pending) for r in run.rounds)))
    cc.print_wrong_lots(wrong_lots, len(run.m.lots))
    for r in run.rounds:
        print("  probes " + r.describe())
    if run.ready_after_restart_s is not None:
        print("  restarted instance ready (/readyz 200) %.2fs after its "
              "restart" % run.ready_after_restart_s)
    print("  model: %d events accepted; log positions at the end: %s" % (
        run.m.accepted, run.log_positions))
    return run.fail.report()


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
    say("settle: " + cc.settle(c, run.topic, a.partitions, run.fail,
                                a.quiet_s, a.settle_timeout, run.poll_rounds))
    cc.check_alive(c, run.fail)
    run.prober = None   # closed before the broker stops
    live = c.live()
    run.log_positions = ", ".join("%s %s" % (i.name, cc.fmt_num(
        i.metrics()[0].get("lotline_log_position"))) for i in live)
    owners = owners_of(live)
    if a.check == "any":
        say("owners (lotline_consumer_lag_messages): %s" % (", ".join(
            "p%d %s" % (p, "+".join(n)) for p, n in sorted(owners.items()))
            or "none known: a lot must be right on some instance"))
    judges = judges_of(run, owners)
    wrong = cc.check_lots(run.fail, model, live, judges)
    n_rej = cc.check_rejections(run.fail, model, live, judges)
    check_failover(run)
    cc.check_streams(run.fail, c.brokers, model, schemas, run.probe_ids())
    cc.stop_and_verify(c, run.fail)
    code = summarize(run, wrong, n_rej)
    if code:
        print(c.logs(15))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
