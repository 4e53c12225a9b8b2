#!/usr/bin/python3
"""Join and leave under load (docs: tests/cluster/README.md).

N `lotlined all` instances decide a steady stream (stream_model.py). A
third of the way in, one more instance joins: it must take partitions,
as GET /v1/cluster on every instance shows. Two thirds in, one of the
original instances leaves cleanly (SIGTERM, exit 0): its partitions must
go to the others. The stream never stops. Then the cluster settles and
everything is checked against the model (cluster_checks.py: every lot and
rejection through every instance, lots.events, lots.quantities and
lots.rejected, `lotline verify`).

It prints the figures of each rebalance, from lotline_task_position
sampled on every instance: the longest time no partition advanced
(everything paused) and the longest time one partition did not (that
partition paused), against the same figures before the join, and the
throughput. Exits 0 when everything matches, 1 with the mismatches, 77
when a prerequisite is missing (a failure under
LOTLINE_TEST_REQUIRE_PREREQS=1).
"""
import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster_checks as cc  # noqa: E402

cc.exit_if_missing()
import cluster_kit as kit  # noqa: E402
import stream_model as sm  # noqa: E402

say = kit.say
POLL_S = 0.2
SAMPLE_S = 0.25
WARMUP_S = 2.0    # the first seconds of the stream are not a baseline


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cc.add_stream_args(p, seed=20270501, events=2700, duration_s=45.0)
    p.add_argument("--leave-index", type=int, default=0,
                   help="the original instance that leaves")
    p.add_argument("--membership-max-s", type=float, default=30.0,
                   help="longest a join or leave may take to show in GET "
                   "/v1/cluster on every instance")
    p.add_argument("--settle-timeout", type=float, default=120.0)
    p.add_argument("--quiet-s", type=float, default=20.0)
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="one more lotlined setting for every instance")
    a = p.parse_args()
    if a.instances < 2:
        p.error("--instances must be at least 2: one leaves")
    if not 0 <= a.leave_index < a.instances:
        p.error("--leave-index must name one of the %d instances" %
                a.instances)
    return a


class Progress(threading.Thread):
    """Samples lotline_task_position on every live instance: per partition
    the highest position any instance reached, and when it last rose."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.high = {}         # partition -> highest task position
        self.rises = {}        # partition -> [times it rose]
        self.total_rises = []  # times any partition rose
        self.error = None      # why sampling stopped early
        self.stop = threading.Event()

    def sample(self):
        now = time.time()
        rose = False
        for inst in self.c.live():
            if inst.http is None:     # joining: no address yet
                continue
            for part, pos in inst.task_positions().items():
                if pos > self.high.get(part, 0):
                    self.high[part] = pos
                    self.rises.setdefault(part, []).append(now)
                    rose = True
        if rose:
            self.total_rises.append(now)

    def run(self):
        try:
            while not self.stop.is_set():
                self.sample()
                self.stop.wait(SAMPLE_S)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            self.error = repr(e)
            raise

    def accepted(self):
        return sum(self.high.values())


def longest_gap(times, start, end):
    """The longest interval between successive times that ends in
    (start, end], with its start; (0, None) when none does."""
    best = (0.0, None)
    for a, b in zip(times, times[1:]):
        if start < b <= end and b - a > best[0]:
            best = (b - a, a)
    return best


def pauses(progress, start, end):
    """Within (start, end]: the longest time no partition advanced, and
    the longest one partition did not, as text."""
    whole, since = longest_gap(progress.total_rises, start, end)
    one, which, one_since = 0.0, None, None
    for part, times in progress.rises.items():
        gap, at = longest_gap(times, start, end)
        if gap > one:
            one, which, one_since = gap, part, at
    text = "longest with no partition advancing %.2fs%s" % (whole,
                                                             clock(since))
    if which is None:
        return text
    return text + ", one partition %.2fs (p%d%s)" % (
        one, which, clock(one_since).replace(" (", " ").rstrip(")"))


def clock(at):
    """A moment on the kit's clock, as printed by say()."""
    return "" if at is None else " (from %.2fs)" % (at - kit._T0)


def cluster_view(inst):
    """GET /v1/cluster as {instance id: set of partitions}, or None."""
    status, body = inst.get("/v1/cluster")
    if status != 200 or not isinstance(body, dict):
        return None
    return {m.get("id"): set(m.get("partitions") or [])
            for m in body.get("instances", [])}


def id_of(inst):
    """The instance's id, as its data directory keeps it (made at its
    first start): what GET /v1/cluster lists it by."""
    with open(os.path.join(inst.data, "instance.id")) as f:
        return f.read().strip()


def membership_wrong(c, partitions, must_own, gone):
    """Why GET /v1/cluster is not yet right on every live instance, or
    None: every partition owned by exactly one live instance, must_own
    owning some, gone owning none."""
    live_ids = {id_of(i) for i in c.live()}
    for inst in c.live():
        view = cluster_view(inst)
        if view is None:
            return "%s: no answer" % inst.name
        owners = {}
        for ident, parts in view.items():
            for p in parts:
                owners.setdefault(p, []).append(ident)
        bad = [p for p in range(partitions)
               if len(owners.get(p, [])) != 1 or owners[p][0] not in live_ids]
        if bad:
            return "%s: partitions %s not owned by one live instance: %s" % (
                inst.name, bad, {p: owners.get(p) for p in bad[:4]})
        if not view.get(id_of(must_own)):
            return "%s: %s owns nothing" % (inst.name, must_own.name)
        if gone is not None and view.get(id_of(gone)):
            return "%s: %s still owns %s" % (inst.name, gone.name,
                                             sorted(view[id_of(gone)]))
    return None


def wait_membership(a, c, fail, what, must_own, gone=None):
    """Until GET /v1/cluster shows the change on every live instance;
    seconds it took."""
    t0 = time.time()
    why = membership_wrong(c, a.partitions, must_own, gone)
    while why is not None and time.time() - t0 < a.membership_max_s:
        time.sleep(POLL_S)
        why = membership_wrong(c, a.partitions, must_own, gone)
    took = time.time() - t0
    if why is not None:
        fail("membership", what, "-", "GET /v1/cluster right within %gs" %
             a.membership_max_s, why)
    else:
        say("%s: GET /v1/cluster right on every instance after %.2fs" %
            (what, took))
    return took


class Run:
    def __init__(self, a, c, stream, fail):
        self.a, self.c, self.stream, self.fail = a, c, stream, fail
        self.events = []   # (name, when, seconds until GET /v1/cluster right)

    def wait_progress(self, fraction):
        while self.feeder.progress() < fraction and \
                not self.feeder.done.is_set():
            time.sleep(POLL_S)

    def join(self):
        at = time.time()
        inst = self.c.join()
        took = wait_membership(self.a, self.c, self.fail, "join of " +
                               inst.name, inst)
        self.events.append(("join of " + inst.name, at, took))

    def leave(self):
        k = self.a.leave_index
        gone = self.c.instances[k]
        at = time.time()
        rc = self.c.leave(k)
        if rc != 0:
            self.fail("leave", "SIGTERM", gone.name, "exit 0", "exit %s" % rc)
        newest = self.c.instances[-1]
        took = wait_membership(self.a, self.c, self.fail, "leave of " +
                               gone.name, newest, gone)
        self.events.append(("leave of " + gone.name, at, took))

    def run(self):
        self.progress = Progress(self.c)
        self.progress.start()
        self.feeder = cc.Feeder(self.c.brokers, "lots.inbound", self.stream,
                                self.a.duration)
        self.started = time.time()
        self.feeder.start()
        say("producing %d events over %.0fs" % (len(self.stream),
                                                self.a.duration))
        self.wait_progress(1 / 3)
        self.join()
        self.wait_progress(2 / 3)
        self.leave()
        self.feeder.finish(self.fail)
        self.sent = time.time()


def figures(run):
    """The pauses of every rebalance and the throughput, as lines."""
    p = run.progress
    base_from = run.started + WARMUP_S
    first = run.events[0][1]
    out = ["before the join (steady): " + pauses(p, base_from, first)]
    bounds = [e[1] for e in run.events[1:]] + [p.total_rises[-1]]
    for (name, at, took), end in zip(run.events, bounds):
        out.append("%s%s: %s; GET /v1/cluster right after %.2fs" % (
            name, clock(at), pauses(p, at, end), took))
    span = p.total_rises[-1] - p.total_rises[0]
    out.append("throughput: %d events accepted in %.1fs, %.0f/s (the "
               "stream sent %.0f/s); last accepted %.2fs after the stream "
               "was sent" % (p.accepted(), span, p.accepted() / span,
                             len(run.stream) / run.a.duration,
                             p.total_rises[-1] - run.sent))
    return out


def main():
    a = parse_args()
    schemas = os.environ.get("LOTLINE_SCHEMAS", "schemas")
    model, stream, biggest = sm.build(schemas, a.seed, a.events, a.products,
                                      a.lots, a.partitions)
    say("stream: %d events, %d lots, %d expected rejections; largest "
        "partition %d bytes" % (len(stream), len(model.lots),
                                len(model.expected_rejections()), biggest))
    c = kit.Cluster(a.instances, a.partitions, settings=a.set, keep=a.keep,
                    tag="join")
    fail = cc.Failures()
    run = Run(a, c, stream, fail)
    try:
        c.start()
        run.run()
    except (RuntimeError, AssertionError) as e:
        print("FAIL: %s\n%s" % (e, c.logs(15)))
        return 1
    say("stream sent; settle: " + cc.settle(
        c, "lots.inbound", a.partitions, fail, a.quiet_s, a.settle_timeout))
    run.progress.sample()
    run.progress.stop.set()
    run.progress.join()
    if run.progress.error:
        fail("progress", "sampling lotline_task_position", "-", "to the end",
             run.progress.error)
    if run.progress.accepted() != model.accepted:
        fail("progress", "sum of lotline_task_position", "-", model.accepted,
             run.progress.accepted())
    lines = figures(run)
    wrong = cc.check_all(c, fail, model, schemas)
    print()
    print("==== cluster join and leave: %d instances + 1, seed %d ====" % (
        a.instances, a.seed))
    print("lots %d, expected rejections %d, events sent %d, accepted %d" % (
        len(model.lots), len(model.expected_rejections()), len(stream),
        model.accepted))
    for line in lines:
        print("  " + line)
    cc.print_wrong_lots(wrong, len(model.lots))
    code = fail.report()
    if code:
        print(c.logs(15))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
