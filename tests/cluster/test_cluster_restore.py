#!/usr/bin/python3
"""Restore: a new owner rebuilds its tasks from the changelog when the
input no longer holds their beginning.

The embedded broker keeps about the last 5 MB of each partition and drops
older records silently; a record's headers count. So the stream's records
are sent to lots.inbound with a large padding header: lots.inbound drops
its head while lots.events and lots.changelog (small records) keep
everything. No standbys (cluster.standby.replicas = 0), so a new owner
holds nothing of the partitions it is handed.

  1. i0 decides the whole stream; every partition of lots.inbound must
     then begin after offset 0 (else the test proves nothing and fails);
  2. i1 joins with an empty data directory, then i0 leaves: i1 is handed
     every partition and must restore each from lots.events and
     lots.changelog (deciding the input again is impossible, and would
     stop it with exit 2); its log says "restored lots.inbound/P" and
     lotline_restore_entries_total counts the entries;
  3. every remembered rejection and every accepted event is delivered
     again, byte-identical (a no-op after the restore: a third of the
     good moves name their lot by lot_name alone, which the log and
     lots.events hold with the lot_id filled in, so the restore must
     decide them as they arrived), and one rejected event id is reused
     with other content (EVENT_ID_REUSED): the restored seen records
     decide all of them;
  4. i0 comes back (it takes some partitions over from its own log);
     every lot's locations equal the model through both instances' API,
     each rejection is listed once per event id (the reused one: its
     first code and EVENT_ID_REUSED), a clean stop exits 0 and
     `lotline verify` passes on both data directories, and every task's
     last task position and chain hash are the same in both logs
     (lotline_task_hashes): i1's restored tasks are i0's, byte for byte.
     (Not the tasks' clocks: the rejections decided after the restore
     moved the clock of their task on the instance that owned it only.)

With --behind: i0 is paused (SIGSTOP) while the input overflows, so the
broker drops records it never decided; resumed, it must exit 2 naming the
partition, never go on from the oldest remaining record.

With --bad: i0 runs with publish.enabled = false, so lots.changelog holds
nothing; i1, handed the partitions without their beginning, must exit 2
with a message naming lots.changelog, the partition and the offsets,
having decided nothing.

Exits 0 on success, 1 with the mismatches, 77 when a prerequisite is
missing (a failure under LOTLINE_TEST_REQUIRE_PREREQS=1).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster_checks as cc  # noqa: E402

cc.exit_if_missing()
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
import cluster_kit as kit  # noqa: E402
import stream_model as sm  # noqa: E402

say = kit.say
RESTORED = re.compile(r"restored lots\.inbound/(\d+): (\d+) of (\d+) entries")
# An owner whose next offset the broker dropped: the consumer's error, or
# the restore's check when the group moved the partition meanwhile.
BEHIND = re.compile(r"lots\.inbound/\d+: the broker no longer holds the "
                    r"events this instance was to decide next|lots\.inbound/"
                    r"\d+ cannot be restored[^\n]*|lots\.inbound/\d+[^\n]*"
                    r"begins at offset \d+")
PAD_HEADER = "ck-pad"
EXIT_TIMEOUT_S = 60
# Records per slice of the padded stream: the next slice is sent once the
# group has decided the last, so that the broker drops only what was
# decided (a consumer that falls behind a dropped head stops with exit 2:
# --behind).
SLICE_EVENTS = 100
CAUGHT_UP_TIMEOUT_S = 60


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=20270520)
    p.add_argument("--events", type=int, default=1600)
    p.add_argument("--products", type=int, default=12)
    p.add_argument("--lots", type=int, default=3)
    p.add_argument("--by-name", type=float, default=0.3,
                   help="share of the good moves naming their lot by "
                   "lot_name alone")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--pad-bytes", type=int, default=24576,
                   help="padding header per lots.inbound record")
    p.add_argument("--bad", action="store_true",
                   help="no changelog: the new owner must exit 2")
    p.add_argument("--behind", action="store_true",
                   help="an owner paused past the broker's retention must "
                   "exit 2")
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


def send(brokers, events, pad):
    """Every event, in order, each with the padding header; waits for
    delivery."""
    p = cc.new_producer(brokers)
    headers = [(PAD_HEADER, b"x" * pad)] if pad else None
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(str(err))
    for ev in events:
        p.produce("lots.inbound", key=ev.product.encode(), value=ev.value,
                  headers=headers, on_delivery=report)
        p.poll(0)
    left = p.flush(60)
    assert left == 0 and not errors, "not delivered: %d left, %s" % (
        left, errors[:3])


def send_in_slices(c, events, pad):
    for i in range(0, len(events), SLICE_EVENTS):
        send(c.brokers, events[i:i + SLICE_EVENTS], pad)
        deadline = time.time() + CAUGHT_UP_TIMEOUT_S
        while cc.committed_lag(c.brokers, c.group, "lots.inbound",
                               c.partitions) != 0:
            if time.time() > deadline:
                raise RuntimeError("the group did not decide a slice within "
                                   "%ds" % CAUGHT_UP_TIMEOUT_S)
            time.sleep(0.1)


def low_watermarks(brokers, topic, partitions):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "ck-watermarks"})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, q),
                                        timeout=10)[0]
                for q in range(partitions)]
    finally:
        c.close()


def settle(c, fail, what):
    say("%s: %s" % (what, cc.settle(c, "lots.inbound", c.partitions, fail,
                                    quiet_s=15, timeout_s=90)))


def check_truncated(c, fail):
    """The input lost its head; the changelog and the events did not."""
    lows = {t: low_watermarks(c.brokers, t, c.partitions)
            for t in ("lots.inbound", "lots.events", "lots.changelog")}
    say("low watermarks: %s" % lows)
    for q, lo in enumerate(lows["lots.inbound"]):
        if lo == 0:
            fail("setup", "lots.inbound/%d" % q, "-",
                 "its head dropped by the broker", "begins at offset 0")
    for t in ("lots.events", "lots.changelog"):
        for q, lo in enumerate(lows[t]):
            if lo != 0:
                fail("setup", "%s/%d" % (t, q), "-", "begins at offset 0",
                     "begins at %d" % lo)
    return lows["lots.inbound"]


def restored_partitions(inst):
    with open(inst.log_path, errors="replace") as f:
        return {int(m.group(1)): (int(m.group(2)), int(m.group(3)))
                for m in RESTORED.finditer(f.read())}


def rejected_events(stream, model):
    """The stream's events whose rejection the task remembers under the
    event id, first copy each."""
    out = {}
    for ev in stream:
        if ev.event_id in model.rejections and ev.event_id not in out:
            out[ev.event_id] = ev
    return list(out.values())


def accepted_events(stream):
    """The stream's accepted events, first copy each."""
    out = {}
    for ev in stream:
        if ev.kind in ("create", "move") and ev.event_id not in out:
            out[ev.event_id] = ev
    return list(out.values())


def redeliver_and_reuse(c, model, stream):
    """Every remembered rejection and every accepted event again
    (no-ops), then one rejected id reused with other content; returns the
    reused event id and its first code."""
    rejected = rejected_events(stream, model)
    again = rejected + accepted_events(stream)
    for ev in again:
        model.decide(ev)
    target = next(ev for ev in rejected
                  if model.rejections[ev.event_id] == "LOT_ID_TAKEN")
    reuse = model.create(target.product, "CK-REUSED-LOT", "reused name",
                         target.event_id)
    send(c.brokers, again + [reuse], 0)
    say("%d rejected and %d accepted events delivered again, %s reused" % (
        len(rejected), len(again) - len(rejected), target.event_id))
    return target.event_id, model.rejections[target.event_id]


def check_rejections(fail, model, instances, reused):
    """Each expected rejection once per event id on every instance; the
    reused id with its first code and EVENT_ID_REUSED."""
    eid, first = reused
    want = dict(model.rejections)
    for other in model.reused:
        want.setdefault(other, "EVENT_ID_REUSED")
    listed = cc.listed_rejections(fail, instances)
    for name, by_id in listed.items():
        got = by_id.pop(eid, [])
        if sorted(got) != sorted([first, "EVENT_ID_REUSED"]):
            fail("rejection", eid, name, "%s,EVENT_ID_REUSED" % first,
                 ",".join(got) or "missing")
        for other, codes in sorted(by_id.items(), key=lambda kv: str(kv[0])):
            if codes != [want.get(other)]:
                fail("rejection", other, name, want.get(other, "none"),
                     ",".join(codes))
        for other in sorted(set(want) - set(by_id) - {eid}):
            fail("rejection", other, name, want[other], "missing")
    return len(want)


def task_hashes(c, inst):
    out = subprocess.run(
        [os.path.join(kit.BIN, "lotline_task_hashes"), "--data", inst.data,
         "--partitions", str(c.partitions)],
        capture_output=True, text=True, env=kit.child_env(), timeout=60)
    if out.returncode != 0:
        raise RuntimeError("lotline_task_hashes %s: %s" % (inst.name,
                                                           out.stderr))
    return out.stdout.splitlines()


def check_task_hashes(c, fail):
    """Position and hash of every task's last entry, i0 against i1."""
    mine, theirs = ([line.split()[:3] for line in task_hashes(c, i)]
                    for i in c.instances[:2])
    for a_task, b_task in zip(mine, theirs):
        if a_task != b_task:
            fail("hashes", "task %s" % a_task[0], "i0/i1", " ".join(a_task),
                 " ".join(b_task))
    say("task positions and hashes equal on i0 and i1: %s" % (
        mine == theirs and len(mine) == c.partitions))


def run_good(a, c, model, stream, fail):
    c.start()
    send_in_slices(c, stream, a.pad_bytes)
    settle(c, fail, "i0 decided the stream")
    check_truncated(c, fail)
    i1 = c.join()
    settle(c, fail, "i1 joined")
    c.leave(0)
    settle(c, fail, "i0 left, i1 owns every partition")
    restored = restored_partitions(i1)
    say("i1 restored: %s" % restored)
    for q in range(c.partitions):
        if q not in restored:
            fail("restore", "lots.inbound/%d" % q, i1.name,
                 "restored from the changelog", "not in its log")
    entries = i1.metrics()[0].get("lotline_restore_entries_total", 0)
    if entries < sum(n for n, _ in restored.values()) or entries == 0:
        fail("restore", "lotline_restore_entries_total", i1.name,
             "the entries restored", cc.fmt_num(entries))
    reused = redeliver_and_reuse(c, model, stream)
    settle(c, fail, "redeliveries decided")
    c.restart(0)
    c.wait_ready(c.live())
    settle(c, fail, "i0 back")
    cc.check_alive(c, fail)
    live = c.live()
    wrong = cc.check_lots(fail, model, live)
    n = check_rejections(fail, model, live, reused)
    cc.stop_and_verify(c, fail)
    check_task_hashes(c, fail)
    cc.print_wrong_lots(wrong, len(model.lots))
    say("%d lots, %d rejections checked on %d instances" % (
        len(model.lots), n, len(live)))


def run_bad(a, c, stream, fail):
    c.settings.append("publish.enabled=false")
    c.start()
    c.settings.remove("publish.enabled=false")
    send_in_slices(c, stream, a.pad_bytes)
    settle(c, fail, "i0 decided the stream (publishing nothing)")
    lows = low_watermarks(c.brokers, "lots.inbound", c.partitions)
    c.leave(0)
    i1 = kit.Instance(c, 1)
    c.instances.append(i1)
    i1.proc = kit.Proc(i1.argv(), i1.log_path)
    try:
        rc = i1.proc.popen.wait(EXIT_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - reported as the failure it is
        rc = None
    i1.expected_down = True
    text = kit.tail(i1.log_path, 40)
    pattern = re.compile(r"lots\.inbound/(\d+) cannot be restored: "
                         r"lots\.changelog/\1 holds no mark .* the input "
                         r"begins at offset (\d+), after offset 0")
    m = pattern.search(text)
    if rc != 2:
        fail("bad", "new owner without a changelog", i1.name, "exit 2",
             "exit %s" % rc)
    if m is None or lows[int(m.group(1))] != int(m.group(2)):
        fail("bad", "exit message", i1.name,
             "names lots.changelog, the partition and its offsets",
             text.strip().splitlines()[-1] if text.strip() else "nothing")
    say("i1 exit %s: %s" % (rc, m.group(0) if m else "-"))


def run_behind(a, c, stream, fail):
    """An owner that falls behind a head the broker dropped stops with exit
    2, never jumping to what remains: i0 decides a first slice, is paused
    (SIGSTOP) while the rest arrives at once (each partition overflows the
    broker's 5 MB, dropping records i0 never decided), and resumed."""
    c.start()
    i0 = c.instances[0]
    send_in_slices(c, stream[:SLICE_EVENTS], a.pad_bytes)
    i0.proc.signal(signal.SIGSTOP)
    try:
        send(c.brokers, stream[SLICE_EVENTS:], a.pad_bytes)
        lows = low_watermarks(c.brokers, "lots.inbound", c.partitions)
        say("i0 paused; the rest sent; lots.inbound begins at %s" % lows)
    finally:
        i0.proc.signal(signal.SIGCONT)
    i0.expected_down = True
    try:
        rc = i0.proc.popen.wait(EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        rc = None
    text = kit.tail(i0.log_path, 60)
    m = BEHIND.search(text)
    if rc != 2:
        fail("behind", "owner behind a dropped head", i0.name, "exit 2",
             "exit %s" % rc)
    if m is None:
        fail("behind", "exit message", i0.name,
             "names the partition and the lost events",
             text.strip().splitlines()[-1] if text.strip() else "nothing")
    say("i0 exit %s: %s" % (rc, m.group(0) if m else "-"))


def main():
    a = parse_args()
    schemas = os.environ.get("LOTLINE_SCHEMAS", "schemas")
    model, stream, _ = sm.build(schemas, a.seed, a.events, a.products, a.lots,
                                a.partitions, by_name_share=a.by_name)
    say("stream: %d events, %d lots, %d remembered rejections" % (
        len(stream), len(model.lots), len(model.rejections)))
    c = kit.Cluster(1, a.partitions, keep=a.keep, tag="restore",
                    settings=["cluster.standby.replicas=0"])
    fail = cc.Failures()
    try:
        if a.bad:
            run_bad(a, c, stream, fail)
        elif a.behind:
            run_behind(a, c, stream, fail)
        else:
            run_good(a, c, model, stream, fail)
    except (RuntimeError, AssertionError) as e:
        print("FAIL: %s\n%s" % (e, c.logs(20)))
        return 1
    code = fail.report()
    if code:
        print(c.logs(20))
    c.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
