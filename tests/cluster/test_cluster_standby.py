#!/usr/bin/python3
"""Standbys: a failover resumes near the head, not from the first event.

Three `lotlined all` instances with the default cluster.standby.replicas
= 1: each instance stands by for the partitions the group's range
assignor would give it if any one other instance left (the claims carry
the consumers' member ids, by which the assignor orders them;
docs/cluster-design.md, "Standbys"), so a single failure lands on warm
copies. --replicas 2 checks the other placement (every instance a copy of
every partition it does not own). A history of some thousands of events
is sent and decided; then:

  - before any failure, the standbys published nothing: on lots.events
    every partition's lotline-position headers are exactly 1..n, once
    each, n the owner's task position; lots.rejected holds each rejection
    record once (a standby that sent one would repeat the owner's bytes);
  - GET /v1/cluster names each instance's standby partitions, and the
    rejections the standbys parked are pruned once the owners had them
    acknowledged (lotline_rejections_parked back to 0);
  - the owner of some partitions is killed with SIGKILL; the instances the
    group hands them to log "promoted: lots.inbound/P resumes at offset X
    from its standby copy", X at the partition's end as it stood at the
    kill (not 0: nothing decided again);
  - a probe lot per partition, sent at the kill, becomes visible (the
    failover time is reported), and lots.events goes on with no gap: the
    promoted owners publish from where Kafka stood;
  - every lot equals the model on every live instance, every rejection is
    listed once per event id, a clean stop exits 0 and `lotline verify`
    passes on every data directory (cluster_checks.py).

Exits 0 on success, 1 with the mismatches, 77 when a prerequisite is
missing (a failure under LOTLINE_TEST_REQUIRE_PREREQS=1).
"""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_cluster_kill as tk  # noqa: E402  (exits 77 without prereqs)
import cluster_checks as cc  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
import cluster_kit as kit  # noqa: E402
import stream_model as sm  # noqa: E402

say = kit.say
PROMOTED = re.compile(r"promoted: (\S+)/(\d+) resumes at offset (\d+) from "
                      r"its standby copy \(task position (\d+)\), (\d+) "
                      r"message\(s\) behind")
WARM_TIMEOUT_S = 90
FAILOVER_TIMEOUT_S = 45


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=20270415)
    p.add_argument("--events", type=int, default=4000)
    p.add_argument("--products", type=int, default=24)
    p.add_argument("--lots", type=int, default=3, help="lots per product")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--kill-index", type=int, default=2)
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


def labelled(inst, metric):
    """{partition: value} of a metric labelled by partition."""
    try:
        import urllib.request
        with urllib.request.urlopen(inst.http + "/metrics",
                                    timeout=kit.HTTP_TIMEOUT_S) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        name, _, value = line.rpartition(" ")
        m = re.search(r'partition="(\d+)"', name)
        if m:
            out[int(m.group(1))] = float(value)
    return out


def cluster_view(inst):
    """(owned, standby) partitions of this instance per GET /v1/cluster."""
    status, body = inst.get("/v1/cluster")
    if status != 200 or not isinstance(body, dict):
        return None, None
    for i in body.get("instances", []):
        if i.get("self"):
            return set(i.get("partitions", [])), set(i.get("standby", []))
    return None, None


def produce_all(brokers, stream):
    p = cc.new_producer(brokers)
    for i, ev in enumerate(stream):
        p.produce("lots.inbound", key=ev.product.encode(), value=ev.value)
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "stream not delivered"


def high_watermarks(brokers, topic, partitions):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "ck-standby-hw"})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)[1]
                for p in range(partitions)}
    finally:
        c.close()


def warm(run, partitions, every):
    """Until the group's lag is 0, every live instance's standby copies
    are caught up (no standby lag) and no parked rejection is left (the
    owners had them all acknowledged: pruned). every: each instance stands
    by for every partition it does not own (replicas N - 1); else each
    partition is stood by somewhere (one replica, where the group's
    assignor would move it)."""
    c = run.c
    t0 = time.time()
    while time.time() - t0 < WARM_TIMEOUT_S:
        lag = cc.committed_lag(c.brokers, c.group, run.topic, partitions)
        views = {i.name: (cluster_view(i), labelled(
            i, "lotline_standby_lag_messages")) for i in c.live()}
        parked = {i.name: i.metrics()[0].get("lotline_rejections_parked")
                  for i in c.live()}
        ok = lag == 0 and all(v == 0 for v in parked.values())
        covered = set()
        for name, ((owned, standby), slag) in views.items():
            want = set(range(partitions)) - (owned or set()) if every \
                else (standby or set())
            covered |= standby or set()
            ok = ok and owned is not None and standby == want and \
                set(slag) == want and all(v == 0 for v in slag.values())
        ok = ok and covered == set(range(partitions))
        if ok:
            say("warm after %.1fs: %s" % (time.time() - t0, "; ".join(
                "%s owns %s stands by for %s" % (n, sorted(o), sorted(s))
                for n, ((o, s), _) in sorted(views.items()))))
            return views
        time.sleep(1)
    run.fail("warm", "standbys", "all", "caught up within %ds" %
             WARM_TIMEOUT_S, "; ".join("%s %s lag %s parked %s" % (
                 n, v[0], v[1], parked.get(n))
                 for n, v in sorted(views.items())))
    return None


def read_topic(brokers, topic, partitions):
    """{partition: [(position header or None, value)]}, all of it."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "ck-standby-read",
                  "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    ends = {}
    for p in range(partitions):
        ends[p] = c.get_watermark_offsets(TopicPartition(topic, p),
                                          timeout=10)[1]
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = {p: [] for p in range(partitions)}
    seen = {p: 0 for p in range(partitions)}
    deadline = time.time() + 30
    while any(seen[p] < ends[p] for p in ends) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        headers = dict(m.headers() or [])
        pos = headers.get("lotline-position")
        out[m.partition()].append((int(pos) if pos else None, m.value()))
        seen[m.partition()] = m.offset() + 1
    c.close()
    return out


def check_outputs_once(run, partitions, owner_positions):
    """No standby published: positions 1..n once each, rejections once;
    n at least where the owner stood when the cluster was warm (the owner
    may have decided and published more since)."""
    events = read_topic(run.c.brokers, "lots.events", partitions)
    for p in range(partitions):
        got = [pos for pos, _ in events[p]]
        n = max(len(got), int(owner_positions.get(p, 0)))
        want = list(range(1, n + 1))
        if got != want:
            run.fail("published", "lots.events[%d]" % p, "-",
                     "positions 1..%d once each" % len(want),
                     "%d records, %d distinct, first repeats %s" % (
                         len(got), len(set(got)), sorted(
                             {x for x in got if got.count(x) > 1})[:5]))
    rejected = read_topic(run.c.brokers, "lots.rejected", partitions)
    values = [v for recs in rejected.values() for _, v in recs]
    if len(values) != len(set(values)):
        run.fail("published", "lots.rejected", "-", "each record once",
                 "%d records, %d distinct" % (len(values), len(set(values))))
    say("before the kill: lots.events %d records, positions dense on every "
        "partition; lots.rejected %d records, %d distinct" % (
            sum(len(v) for v in events.values()), len(values),
            len(set(values))))


def check_outputs_after(run, partitions):
    """After the failover: every partition's positions still 1..n with no
    gap, the promoted owners going on where Kafka stood; a repeat (the
    dead owner's last transaction) only byte-identical."""
    events = read_topic(run.c.brokers, "lots.events", partitions)
    for p in range(partitions):
        first = {}
        for pos, value in events[p]:
            if pos in first and first[pos] != value:
                run.fail("published", "lots.events[%d] position %d" % (p, pos),
                         "-", "repeats byte-identical", "two values")
            first.setdefault(pos, value)
        if sorted(first) != list(range(1, len(first) + 1)):
            run.fail("published", "lots.events[%d]" % p, "-",
                     "positions 1..n", "gaps: %d positions up to %d" % (
                         len(first), max(first or [0])))
    say("after the failover: lots.events %d records, positions dense on "
        "every partition" % sum(len(v) for v in events.values()))


def promotions_since(inst, offset):
    """{partition: (resumed offset, task position, behind)} logged after
    byte `offset` of the instance's log."""
    out = {}
    with open(inst.log_path, errors="replace") as f:
        f.seek(offset)
        for line in f:
            m = PROMOTED.search(line)
            if m:
                out[int(m.group(2))] = tuple(int(m.group(k))
                                             for k in (3, 4, 5))
    return out


def check_promotions(run, killed, lost, hw, log_marks):
    """Every partition of the killed instance resumed at its end on the
    instance that took it."""
    got = {}
    for inst in run.c.live():
        for p, v in promotions_since(inst, log_marks[inst.name]).items():
            got[p] = (inst.name, v)
    for p in sorted(lost):
        if p not in got:
            run.fail("promotion", "partition %d" % p, "-",
                     "resumed from a standby copy", "no promotion logged")
            continue
        name, (offset, position, behind) = got[p]
        say("p%d: %s resumed at offset %d of %d (task position %d, %d "
            "behind)" % (p, name, offset, hw[p], position, behind))
        if offset <= 0 or offset < hw[p] * 0.95:
            run.fail("promotion", "partition %d" % p, name,
                     "resumed near offset %d" % hw[p],
                     "resumed at offset %d" % offset)


def kill_owner(run, a, hw):
    """Kill one instance; returns the partitions it owned and the moment."""
    victim = run.c.instances[a.kill_index]
    lost, _ = cluster_view(victim)
    log_marks = {i.name: os.path.getsize(i.log_path) for i in run.c.instances}
    run.c.kill9(a.kill_index)
    killed_at = time.time()
    r = run.probe("kill", since=killed_at, what="the kill")
    while r.pending and time.time() - killed_at < FAILOVER_TIMEOUT_S:
        r.poll(run.c.live())
        time.sleep(tk.POLL_S)
    say("probes " + r.describe())
    if r.pending:
        run.fail("failover", "kill -> every partition processing", "-",
                 "within %ds" % FAILOVER_TIMEOUT_S, r.describe())
    return lost or set(), log_marks


def scenario(run, a, model):
    c = run.c
    c.start()
    produce_all(c.brokers, run.stream)
    say("stream of %d events sent" % len(run.stream))
    views = warm(run, a.partitions, a.replicas >= 2)
    if views is None:
        return
    positions = {}
    for inst in c.live():
        owned, _ = cluster_view(inst)
        tp = labelled(inst, "lotline_task_position")
        positions.update({p: tp.get(p, 0) for p in owned})
    check_outputs_once(run, a.partitions, positions)
    hw = high_watermarks(c.brokers, run.topic, a.partitions)
    run.prober = cc.new_producer(c.brokers)
    run.prober.list_topics(run.topic, timeout=10)
    lost, marks = kill_owner(run, a, hw)
    say("killed i%d, which owned %s" % (a.kill_index, sorted(lost)))
    if not lost:
        run.fail("setup", "the killed instance", "i%d" % a.kill_index,
                 "owned partitions", "none")
    check_promotions(run, a.kill_index, lost, hw, marks)


def main():
    a = parse_args()
    schemas = os.environ.get("LOTLINE_SCHEMAS", "schemas")
    model, stream, _ = sm.build(schemas, a.seed, a.events, a.products,
                                a.lots, a.partitions)
    say("stream: %d events, %d lots, %d expected rejections" % (
        len(stream), len(model.lots), len(model.expected_rejections())))
    c = kit.Cluster(3, a.partitions, keep=a.keep, tag="standby", settings=[
        "cluster.standby.replicas=%d" % a.replicas])
    args = argparse.Namespace(check="every", partitions=a.partitions,
                              instances=3, seed=a.seed, no_kill=False,
                              kill_index=a.kill_index, failover_max_s=0,
                              quiet_s=15.0, settle_timeout=60.0)
    run = tk.Run(args, c, model, stream)
    try:
        scenario(run, a, model)
    except (RuntimeError, AssertionError) as e:
        print("FAIL: %s\n%s" % (e, c.logs(15)))
        return 1
    say("settle: " + cc.settle(c, run.topic, a.partitions, run.fail,
                                args.quiet_s, args.settle_timeout,
                                run.poll_rounds))
    check_outputs_after(run, a.partitions)
    run.prober = None
    live = c.live()
    judges = tk.judges_of(run, tk.owners_of(live))
    wrong = cc.check_lots(run.fail, model, live, judges)
    n_rej = cc.check_rejections(run.fail, model, live, judges)
    cc.stop_and_verify(c, run.fail)
    code = tk.summarize(run, wrong, n_rej)
    if code:
        print(c.logs(20))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
