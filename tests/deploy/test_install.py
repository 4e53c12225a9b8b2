#!/usr/bin/python3
"""`cmake --install` puts a working lotline in place.

Installs the build tree into a temp prefix, then checks that:
  - the binaries, schemas, sample config, systemd units and docs are there;
  - the installed lotlined and lotline answer --help and --version;
  - the installed lotlined reads the installed schemas
    (<prefix>/share/lotline/schemas, found next to the binary): a broken
    schema file dropped there stops it at start-up, naming that file;
  - with the installed sample config, `lotlined all` on the embedded broker
    starts, and the installed CLI creates a lot through it and reads it
    back."""
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("LOTLINE_SOURCE",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LOTLINE_BUILD", os.path.join(SRC, "build"))
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")
WAIT_S = 30


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                       **kw)
    return r.returncode, r.stdout, r.stderr


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok  ", what)


def wait_file(path, proc):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                line = f.readline().strip()
            if line:
                return line
        if proc.poll() is not None:
            raise AssertionError("lotlined exited with %d before writing %s"
                                 % (proc.returncode, path))
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + path)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


def main():
    tmp = tempfile.mkdtemp(prefix="lotline-install-")
    # The prefix sits one level down, so <prefix>/bin/../../schemas (the
    # build-tree lookup) cannot exist: only the installed schemas can be
    # found next to the binary.
    prefix = os.path.join(tmp, "prefix")
    try:
        rc, out, err = run([CMAKE, "--install", BUILD, "--prefix", prefix])
        expect(rc == 0, "cmake --install %s --prefix %s (%s)"
               % (BUILD, prefix, err.strip()))
        lotlined = os.path.join(prefix, "bin", "lotlined")
        lotline = os.path.join(prefix, "bin", "lotline")
        for b in (lotlined, lotline):
            expect(os.access(b, os.X_OK), "installed " + b)
        schemas = os.path.join(prefix, "share", "lotline", "schemas")
        src_schemas = sorted(f for f in os.listdir(os.path.join(SRC,
                                                                "schemas")))
        expect(sorted(os.listdir(schemas)) == src_schemas,
               "installed schemas: %s" % ", ".join(src_schemas))
        _, mismatch, errors = filecmp.cmpfiles(
            os.path.join(SRC, "schemas"), schemas, src_schemas, shallow=False)
        expect(not mismatch and not errors, "schemas installed unchanged")
        for rel in ("share/lotline/lotline.conf.sample",
                    "share/lotline/systemd/lotlined-command.service",
                    "share/lotline/systemd/lotlined-project.service",
                    "share/lotline/systemd/lotline.sysusers.conf",
                    "share/doc/lotline/README.md",
                    "share/doc/lotline/operations.md",
                    "share/doc/lotline/openapi.yaml"):
            expect(os.path.isfile(os.path.join(prefix, rel)),
                   "installed " + rel)

        for b in (lotlined, lotline):
            rc, out, _ = run([b, "--help"])
            expect(rc == 0 and "usage" in out.lower(),
                   "%s --help exits 0 with a usage text" % b)
            rc, out, _ = run([b, "--version"])
            expect(rc == 0 and out.strip(), "%s --version: %s"
                   % (b, out.strip()))

        data = os.path.join(tmp, "data")
        sample = os.path.join(prefix, "share", "lotline",
                              "lotline.conf.sample")
        cmd = [lotlined, "all", "--config", sample, "--data", data,
               "--http", "127.0.0.1:0"]

        # A broken schema version under the installed directory stops the
        # start-up: proof that lotlined reads that directory.
        broken = os.path.join(schemas, "LotCreated.v99.avsc")
        with open(broken, "w") as f:
            f.write("{ not a schema")
        rc, out, err = run(cmd, cwd=tmp)
        named = [w.rstrip(":") for w in err.split() if "v99" in w]
        expect(rc == 1 and named and os.path.realpath(named[0]) == broken,
               "installed lotlined reads %s (broken file -> exit %d: %s)"
               % (schemas, rc, err.strip()[-200:]))
        os.remove(broken)

        log_path = os.path.join(tmp, "lotlined.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=log)
        ok = False
        try:
            wait_file(os.path.join(data, "http.addr"), proc)
            rc, out, err = run([lotline, "--data", data, "create",
                                "--product", "P-INST", "--lot-id", "INST-1",
                                "--name", "0001"])
            expect(rc == 0, "installed lotline creates a lot through the "
                   "installed lotlined (%s)" % (out + err).strip())
            rc, out, err = run([lotline, "--data", data, "--json", "show",
                                "INST-1"])
            lot = json.loads(out) if rc == 0 else {}
            expect(lot.get("name") == "0001"
                   and lot.get("product_id") == "P-INST",
                   "and reads it back: %s" % (out.strip() or err.strip()))
            ok = True
        finally:
            rc = stop(proc)
            if not ok or rc != 0:
                with open(log_path) as f:
                    sys.stderr.write(f.read()[-6000:])
        expect(rc == 0, "lotlined stops cleanly on SIGTERM")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("install: all checks passed")


if __name__ == "__main__":
    main()
