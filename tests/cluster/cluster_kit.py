"""cluster_kit.py — run lotline as N `lotlined all` instances on one broker.

One `lotlined broker` (its topics created with `broker.partitions`
partitions) and N `lotlined all --brokers` instances with the same settings
(same brokers, same group.id), each with its own data directory under one
temporary directory and its own HTTP port picked by the OS (read back from
<data>/http.addr). An instance can be killed with SIGKILL, restarted on the
same data directory, and stopped with SIGTERM.

Nothing is left behind, however the test ends: every process runs in its
own process group (setsid) and, where util-linux's setpriv exists, gets
SIGKILL when the test process dies (PR_SET_PDEATHSIG); an atexit handler
and SIGTERM/SIGINT handlers kill every group still alive and remove the
temporary directory (unless `keep`).

The children get no LOTLINE_* variable from the caller's environment: a
variable lotlined does not know stops it (exit 2), and one it knows would
change the settings behind the test's back. Everything is a flag.
"""
import atexit
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

BIN = os.environ.get("LOTLINE_BIN", "build/bin")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 10

_T0 = time.time()


def say(what):
    print("[%7.2fs] %s" % (time.time() - _T0, what), flush=True)


def child_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith("LOTLINE_")}


def wait_line(path, timeout_s, proc=None):
    """The first line of a file some process writes; fails early when that
    process has exited instead."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                line = f.readline().strip()
            if line:
                return line
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("exited with %d before writing %s" %
                               (proc.returncode, path))
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % path)


def tail(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Proc:
    """A tied child process in its own process group."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        tie = []
        if shutil.which("setpriv"):
            tie = ["setpriv", "--pdeathsig", "KILL", "--"]
        self.log = open(log_path, "a")
        self.popen = subprocess.Popen(tie + argv, stdout=self.log,
                                      stderr=subprocess.STDOUT,
                                      env=child_env(), start_new_session=True)

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT_S)
        self.log.close()

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM and wait; the exit status, or None if it had to be
        killed."""
        self.signal(signal.SIGTERM)
        try:
            rc = self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        self.log.close()
        return rc


class Instance:
    """One `lotlined all` of the cluster."""

    def __init__(self, cluster, index):
        self.cluster, self.index = cluster, index
        self.name = "i%d" % index
        self.data = os.path.join(cluster.tmp, self.name)
        self.log_path = os.path.join(cluster.tmp, self.name + ".log")
        self.proc = None
        self.http = None
        self.expected_down = False   # killed or stopped by the test

    def argv(self):
        argv = [os.path.join(BIN, "lotlined"), "all", "--data", self.data,
                "--brokers", self.cluster.brokers, "--http", "127.0.0.1:0",
                "--set", "group.id=" + self.cluster.group]
        for kv in self.cluster.settings:
            argv += ["--set", kv]
        return argv

    def start(self):
        addr = os.path.join(self.data, "http.addr")
        if os.path.exists(addr):
            os.unlink(addr)
        self.proc = Proc(self.argv(), self.log_path)
        self.expected_down = False
        http = wait_line(addr, START_TIMEOUT_S, self.proc.popen)
        # One assignment: another thread may be reading self.http.
        self.http = http if http.startswith("http") else "http://" + http

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def get(self, path):
        """(status, JSON body or None); status -1 when nothing answers."""
        try:
            with urllib.request.urlopen(self.http + path,
                                        timeout=HTTP_TIMEOUT_S) as r:
                return r.status, json.loads(r.read().decode() or "null")
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, None
        except (urllib.error.URLError, OSError, ValueError):
            return -1, None

    def metrics(self):
        """Unlabelled metrics as {name: float}, and the partitions named by
        lotline_consumer_lag_messages (those this instance consumes now)."""
        try:
            with urllib.request.urlopen(self.http + "/metrics",
                                        timeout=HTTP_TIMEOUT_S) as r:
                text = r.read().decode()
        except (urllib.error.URLError, OSError):
            return {}, set()
        values, owned = {}, set()
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            if name.startswith("lotline_consumer_lag_messages{"):
                for label in name[name.index("{") + 1:-1].split(","):
                    k, _, v = label.partition("=")
                    if k == "partition":
                        owned.add(int(v.strip('"')))
            elif "{" not in name:
                try:
                    values[name] = float(value)
                except ValueError:
                    pass
        return values, owned

    def task_positions(self):
        """{partition: lotline_task_position} of the partitions this
        instance decides; empty when it does not answer."""
        try:
            with urllib.request.urlopen(self.http + "/metrics",
                                        timeout=HTTP_TIMEOUT_S) as r:
                text = r.read().decode()
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        out = {}
        for line in text.splitlines():
            if not line.startswith("lotline_task_position{"):
                continue
            name, _, value = line.rpartition(" ")
            for label in name[name.index("{") + 1:-1].split(","):
                k, _, v = label.partition("=")
                if k == "partition":
                    out[int(v.strip('"'))] = int(float(value))
        return out


class Cluster:
    def __init__(self, instances, partitions=12, group="lotline",
                 settings=(), keep=False, tag="cluster"):
        self.tmp = tempfile.mkdtemp(prefix="lotline-%s-" % tag)
        self.partitions, self.group = partitions, group
        self.settings = list(settings)
        self.keep = keep
        self.broker = None
        self.brokers = None
        self.instances = [Instance(self, i) for i in range(instances)]
        self._cleaned = False
        atexit.register(self.cleanup)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame):
        say("signal %d: cleaning up" % signum)
        self.cleanup()
        os._exit(128 + signum)

    def start_broker(self):
        data = os.path.join(self.tmp, "broker")
        self.broker = Proc([os.path.join(BIN, "lotlined"), "broker",
                            "--data", data, "--set",
                            "broker.partitions=%d" % self.partitions],
                           os.path.join(self.tmp, "broker.log"))
        self.brokers = wait_line(os.path.join(data, "broker.addr"),
                                 START_TIMEOUT_S, self.broker.popen)
        say("broker at %s, %d partitions per topic" %
            (self.brokers, self.partitions))

    def start(self):
        """The broker, then every instance; returns once each is ready."""
        self.start_broker()
        for inst in self.instances:
            inst.start()
            say("%s started: %s (data %s)" % (inst.name, inst.http, inst.data))
        self.wait_ready(self.instances)

    def wait_ready(self, instances, timeout_s=START_TIMEOUT_S):
        """Until every instance answers /readyz 200 (its views caught up and
        its consumer holding partitions)."""
        deadline = time.time() + timeout_s
        waiting = list(instances)
        while waiting:
            waiting = [i for i in waiting if i.get("/readyz")[0] != 200]
            for inst in waiting:
                if not inst.alive():
                    raise RuntimeError("%s exited with %s while starting:\n%s"
                                       % (inst.name, inst.proc.popen.returncode,
                                          tail(inst.log_path)))
            if waiting and time.time() > deadline:
                raise RuntimeError("not ready within %ds: %s" % (
                    timeout_s, ", ".join(i.name for i in waiting)))
            time.sleep(0.2)

    def kill9(self, index):
        inst = self.instances[index]
        inst.expected_down = True
        inst.proc.kill9()
        say("%s killed (SIGKILL)" % inst.name)

    def restart(self, index):
        inst = self.instances[index]
        inst.start()
        say("%s restarted on %s: %s" % (inst.name, inst.data, inst.http))

    def join(self):
        """One more instance (its own data directory, the same settings)
        joins the group; returns it once it is started."""
        inst = Instance(self, len(self.instances))
        self.instances.append(inst)
        inst.start()
        say("%s joined: %s (data %s)" % (inst.name, inst.http, inst.data))
        return inst

    def leave(self, index):
        """SIGTERM one instance, a clean leave; its exit status (None when
        it had to be killed)."""
        inst = self.instances[index]
        inst.expected_down = True
        rc = inst.proc.stop()
        say("%s left (SIGTERM): exit %s" % (inst.name, rc))
        return rc

    def live(self):
        return [i for i in self.instances if i.alive()]

    def died(self):
        """Instances that exited without the test stopping them."""
        return [i for i in self.instances
                if i.proc is not None and not i.expected_down
                and not i.alive()]

    def stop_all(self):
        """SIGTERM every instance, then the broker; {name: exit status}."""
        rcs = {}
        for inst in self.instances:
            if inst.alive():
                inst.expected_down = True
                rcs[inst.name] = inst.proc.stop()
        if self.broker is not None and self.broker.alive():
            self.broker.stop()
        return rcs

    def logs(self, lines=25):
        out = []
        for inst in self.instances:
            out.append("---- %s (%s) ----\n%s" % (
                inst.name, inst.log_path, tail(inst.log_path, lines)))
        return "\n".join(out)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for inst in self.instances:
            if inst.proc is not None and inst.alive():
                inst.proc.kill9()
        if self.broker is not None and self.broker.alive():
            self.broker.kill9()
        if self.keep:
            print("kept %s" % self.tmp, file=sys.stderr, flush=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Checks:
    """A test's checks: an "ok"/"FAIL" line for each, the failures kept,
    and the verdict at the end (the exit status)."""

    def __init__(self):
        self.failures = []

    def check(self, cond, what):
        print("ok  " if cond else "FAIL", what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def wait_for(self, what, cond, timeout_s=30, every_s=0.2):
        """Polls cond until it holds; a check that fails at the deadline."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if cond():
                return True
            time.sleep(every_s)
        return self.check(False, what)

    def verdict(self, cluster):
        """PASS and 0, or the failures and the cluster's logs and 1."""
        if self.failures:
            print("FAIL: %d check(s):\n  %s" % (len(self.failures),
                                                "\n  ".join(self.failures)))
            print(cluster.logs())
            return 1
        print("PASS")
        return 0


def http_call(inst, method, path, body=None, headers=None):
    """(status, JSON body) of one request to an instance (the text when the
    answer is not JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    rq = urllib.request.Request(inst.http + path, data=data, method=method,
                                headers=dict(headers or {}))
    if data is not None:
        rq.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(rq, timeout=15) as r:
            return r.status, json.loads(r.read().decode() or "null")
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text
