#!/usr/bin/python3
"""The crash test against a cluster (docs: tests/cluster/README.md).

N `lotlined all` instances share one consumer group on one embedded
broker while an independent producer (stream_model.py) sends a seeded
stream. Instances are killed with SIGKILL at random moments, each
restarted on its data directory after a random pause; every other kill
comes shortly after the previous victim's restart, while the group is
rebalancing, and hits another instance. Then the cluster settles and
everything is checked against the model (cluster_checks.py):

  (a) every lot's Locations view, through every instance's API;
  (b) every rejection exactly once per event id in GET /v1/rejections;
  (c) lots.events and lots.quantities, read read_committed from the
      beginning: task positions 1..N dense per partition, repeats only
      byte-identical, the accepted events exactly the model's;
  (d) lots.rejected: every predicted rejection, repeats only
      byte-identical with the same original (topic, partition, offset);
  (e) a clean stop, then `lotline verify` on every data directory.

The kill plan (victims, moments, pauses) follows from --seed and is
printed, so a failure names what happened and when. Exits 0 when
everything matches, 1 with the mismatches, 77 when a prerequisite is
missing (a failure under LOTLINE_TEST_REQUIRE_PREREQS=1).
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster_checks as cc  # noqa: E402

cc.exit_if_missing()
import cluster_kit as kit  # noqa: E402
import stream_model as sm  # noqa: E402

say = kit.say
POLL_S = 0.2
KILLS_FROM = 0.1     # share of the stream sent before the first kill
KILLS_UNTIL = 0.85   # share by which the last kill has happened


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cc.add_stream_args(p, seed=20270401, events=2400, duration_s=30.0)
    p.add_argument("--kills", type=int, default=4)
    p.add_argument("--pause-min-s", type=float, default=1.0,
                   help="shortest time a killed instance stays down")
    p.add_argument("--pause-max-s", type=float, default=5.0)
    p.add_argument("--rebalance-kill-max-s", type=float, default=2.0,
                   help="a rebalance kill comes at most this long after the "
                   "previous victim's restart")
    p.add_argument("--settle-timeout", type=float, default=120.0)
    p.add_argument("--quiet-s", type=float, default=20.0)
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="one more lotlined setting for every instance")
    a = p.parse_args()
    if a.instances < 2:
        p.error("--instances must be at least 2: one stays up")
    if not 0 < a.pause_min_s <= a.pause_max_s:
        p.error("need 0 < --pause-min-s <= --pause-max-s")
    return a


class Crasher:
    """Kills and restarts instances while the feeder sends the stream."""

    def __init__(self, a, c, feeder):
        self.a, self.c, self.feeder = a, c, feeder
        self.rng = random.Random(a.seed * 7919 + 1)
        self.down = {}           # index -> when to restart it
        self.last_restart = None  # (index, when)
        self.log = []            # what happened, for the summary

    def note(self, what):
        self.log.append("%6.2fs %s" % (time.time() - kit._T0, what))
        say(what)

    def restart_due(self, force=False):
        for k, at in sorted(self.down.items()):
            if force or time.time() >= at:
                del self.down[k]
                self.c.restart(k)
                self.last_restart = (k, time.time())
                self.note("restart i%d" % k)

    def wait(self, until_fn):
        while not until_fn() and not self.feeder.done.is_set():
            self.restart_due()
            time.sleep(POLL_S)

    def victim(self, rebalance):
        """A live instance, never the last one; for a rebalance kill not
        the one that just restarted."""
        live = [i.index for i in self.c.live()]
        if rebalance and self.last_restart and len(live) > 1:
            live = [k for k in live if k != self.last_restart[0]]
        return self.rng.choice(live) if len(self.c.live()) > 1 else None

    def kill(self, n, rebalance):
        k = self.victim(rebalance)
        if k is None:
            self.note("kill %d skipped: one instance left" % n)
            return
        self.c.kill9(k)
        pause = self.rng.uniform(self.a.pause_min_s, self.a.pause_max_s)
        self.down[k] = time.time() + pause
        self.note("kill %d: i%d%s, back in %.1fs" % (
            n, k, " (during the rebalance after a restart)" if rebalance
            else "", pause))

    def run(self):
        """The kills spread over the stream in pairs: the first of a pair
        at a random moment in the first half of its share of the stream,
        the second a short random moment after the first victim's
        restart."""
        span = KILLS_UNTIL - KILLS_FROM
        for n in range(1, self.a.kills + 1):
            rebalance = n % 2 == 0
            if rebalance:
                before = self.last_restart
                self.wait(lambda: self.last_restart != before)
                delay = self.rng.uniform(0.2, self.a.rebalance_kill_max_s)
                at = time.time() + delay
            else:
                pairs = (self.a.kills + 1) // 2
                share = KILLS_FROM + span * (
                    (n - 1) // 2 + self.rng.random() / 2) / pairs
                self.wait(lambda: self.feeder.progress() >= share)
                at = time.time()
            self.wait(lambda: time.time() >= at)
            if self.feeder.done.is_set():
                self.note("stream over before kill %d" % n)
                break
            self.kill(n, rebalance)
        self.wait(lambda: False)
        self.restart_due(force=True)


def summarize(a, model, stream, crasher, wrong, fail):
    print()
    print("==== cluster crash test: %d instances, seed %d, %d kills ====" % (
        a.instances, a.seed, a.kills))
    print("lots %d, expected rejections %d, events sent %d, accepted %d" % (
        len(model.lots), len(model.expected_rejections()), len(stream),
        model.accepted))
    for line in crasher.log:
        print("  " + line)
    cc.print_wrong_lots(wrong, len(model.lots))
    return fail.report()


def main():
    a = parse_args()
    schemas = os.environ.get("LOTLINE_SCHEMAS", "schemas")
    model, stream, biggest = sm.build(schemas, a.seed, a.events, a.products,
                                      a.lots, a.partitions)
    say("stream: %d events, %d lots, %d expected rejections; largest "
        "partition %d bytes" % (len(stream), len(model.lots),
                                len(model.expected_rejections()), biggest))
    c = kit.Cluster(a.instances, a.partitions, settings=a.set, keep=a.keep,
                    tag="crash")
    fail = cc.Failures()
    try:
        c.start()
        feeder = cc.Feeder(c.brokers, "lots.inbound", stream, a.duration)
        feeder.start()
        say("producing %d events over %.0fs" % (len(stream), a.duration))
        crasher = Crasher(a, c, feeder)
        crasher.run()
        feeder.finish(fail)
        c.wait_ready(c.live())
    except (RuntimeError, AssertionError) as e:
        print("FAIL: %s\n%s" % (e, c.logs(15)))
        return 1
    say("stream sent; settle: " + cc.settle(
        c, "lots.inbound", a.partitions, fail, a.quiet_s, a.settle_timeout))
    wrong = cc.check_all(c, fail, model, schemas)
    code = summarize(a, model, stream, crasher, wrong, fail)
    if code:
        print(c.logs(15))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
