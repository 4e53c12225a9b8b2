#!/usr/bin/python3
"""The documentation says what the code does.

  - docs/openapi.yaml is OpenAPI 3, every $ref resolves, every route of the
    contract (section 5) is there with its method, and every answer a
    running lotlined gives on the implemented routes (success and error
    bodies alike) validates against the schema documented for that route
    and status;
  - docs/events.md lists every field of every event schema and the right
    CRC-64-AVRO fingerprint of each schema file;
  - docs/cli.md has a section for every command `lotline --help` lists;
  - every relative link in README.md and docs/*.md points at a file that
    exists (and, for #anchors into Markdown, at a heading that exists)."""
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jsonschema
import yaml

SRC = os.environ.get("LOTLINE_SOURCE",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LOTLINE_BIN", os.path.join(SRC, "build", "bin"))
DOCS = os.path.join(SRC, "docs")
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from test_python_client import canonical_form, crc64_avro  # noqa: E402

# Contract section 5: (method, OpenAPI path).
CONTRACT_ROUTES = [
    ("post", "/v1/lots"), ("get", "/v1/lots"),
    ("get", "/v1/lots/{lot_id}"), ("patch", "/v1/lots/{lot_id}"),
    ("get", "/v1/lots/{lot_id}/locations"),
    ("get", "/v1/lots/{lot_id}/moves"), ("get", "/v1/lots/{lot_id}/trace"),
    ("get", "/v1/locations/{location_id}/lots"), ("post", "/v1/moves"),
    ("get", "/v1/rejections"), ("get", "/healthz"), ("get", "/readyz"),
    ("get", "/metrics"),
]
# Written on other branches; a link to them is checked once they exist.
OTHER_BRANCH_DOCS = {"rejections.md", "streams.md"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print("ok  " if cond else "FAIL", what)
    return cond


# ---- OpenAPI ----------------------------------------------------------

def resolve(spec, ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def all_refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from all_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from all_refs(v)


def to_json_schema(node):
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` becomes a null type."""
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()
           if k not in ("nullable", "example", "format")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def check_openapi():
    with open(os.path.join(DOCS, "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    check(str(spec.get("openapi", "")).startswith("3."), "openapi.yaml is "
          "OpenAPI 3 (%s)" % spec.get("openapi"))
    bad = []
    for ref in set(all_refs(spec)):
        try:
            resolve(spec, ref)
        except (KeyError, TypeError):
            bad.append(ref)
    check(not bad, "every $ref resolves %s" % (bad or ""))
    paths = spec.get("paths", {})
    for method, path in CONTRACT_ROUTES:
        op = paths.get(path, {}).get(method)
        check(op is not None and op.get("responses"),
              "openapi documents %s %s with responses"
              % (method.upper(), path))
    for path, item in paths.items():
        declared = set()
        for p in item.get("parameters", []):
            p = resolve(spec, p["$ref"]) if "$ref" in p else p
            if p.get("in") == "path":
                declared.add(p["name"])
        for method, op in item.items():
            if method == "parameters":
                continue
            names = set(declared)
            for p in op.get("parameters", []):
                p = resolve(spec, p["$ref"]) if "$ref" in p else p
                if p.get("in") == "path":
                    names.add(p["name"])
            want = set(re.findall(r"{([^}]+)}", path))
            check(want == names, "%s %s declares its path parameters %s"
                  % (method.upper(), path, sorted(want)))
    return spec


def response_schema(spec, method, path, status):
    op = spec["paths"][path][method]
    resp = op["responses"].get(str(status))
    if resp is None:
        return None
    if "$ref" in resp:
        resp = resolve(spec, resp["$ref"])
    content = resp.get("content", {})
    media = content.get("application/json") or content.get("text/plain")
    return media.get("schema") if media else {}


class Server:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="lotline-docs-")
        self.log = open(os.path.join(self.tmp, "log"), "w")
        data = os.path.join(self.tmp, "data")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "lotlined"), "all", "--data", data,
             "--http", "127.0.0.1:0"], stdout=self.log, stderr=self.log)
        addr = os.path.join(data, "http.addr")
        deadline = time.time() + 30
        while not (os.path.exists(addr) and open(addr).read().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                raise AssertionError("lotlined did not start")
            time.sleep(0.05)
        self.base = "http://" + open(addr).read().strip()

    def call(self, method, path, body=None, headers=None):
        req = urllib.request.Request(
            self.base + path, method=method.upper(),
            data=None if body is None else body.encode(),
            headers=dict(headers or {}, **{"Content-Type":
                                           "application/json"}))
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_live(spec):
    """Every answer of the running service matches the documented schema
    of its route and status."""
    lot = json.dumps({"lot_id": "DOC-1", "product_id": "P-DOC",
                      "name": "0001", "reference": "PO-1",
                      "expiration_at": "2027-03-01T00:00:00Z"})
    move = json.dumps({"product_id": "P-DOC", "lot_id": "DOC-1",
                       "quantity": "10",
                       "from": {"id": "Vendors/A", "usage": "SUPPLIER"},
                       "to": {"id": "WH/Stock", "usage": "INTERNAL"}})
    too_much = json.dumps({"product_id": "P-DOC", "lot_id": "DOC-1",
                           "quantity": "99",
                           "from": {"id": "WH/Stock", "usage": "INTERNAL"},
                           "to": {"id": "Customers/B", "usage": "CUSTOMER"}})
    # (method, request path, OpenAPI path, body, expected status)
    calls = [
        ("post", "/v1/lots", "/v1/lots", lot, 201),
        ("post", "/v1/lots", "/v1/lots", lot.replace("DOC-1", "DOC-2"), 409),
        ("post", "/v1/lots", "/v1/lots", "{bad", 400),
        ("post", "/v1/lots", "/v1/lots",
         json.dumps({"lot_id": "DOC-3", "product_id": "P-DOC", "name": "3",
                     "expiration_at": "2027-03-01T00:00:00Z",
                     "alert_at": "2027-04-01T00:00:00Z"}), 422),
        ("post", "/v1/moves", "/v1/moves", move, 201),
        ("post", "/v1/moves", "/v1/moves", too_much, 422),
        ("patch", "/v1/lots/DOC-1", "/v1/lots/{lot_id}",
         json.dumps({"reference": "PO-2", "expected_version": 1}), 200),
        ("patch", "/v1/lots/DOC-1", "/v1/lots/{lot_id}",
         json.dumps({"reference": "PO-3", "expected_version": 1}), 409),
        ("patch", "/v1/lots/NOPE", "/v1/lots/{lot_id}",
         json.dumps({"reference": "x"}), 404),
        ("get", "/v1/lots/DOC-1", "/v1/lots/{lot_id}", None, 200),
        ("get", "/v1/lots/NOPE", "/v1/lots/{lot_id}", None, 404),
        ("get", "/v1/lots?product_id=P-DOC&limit=1", "/v1/lots", None, 200),
        ("get", "/v1/lots?limit=0", "/v1/lots", None, 400),
        ("get", "/v1/lots/DOC-1/locations?all=1",
         "/v1/lots/{lot_id}/locations", None, 200),
        ("get", "/v1/rejections?limit=10", "/v1/rejections", None, 200),
        ("get", "/healthz", "/healthz", None, 200),
        ("get", "/readyz", "/readyz", None, 200),
        ("get", "/v1/lots/DOC-1/moves", "/v1/lots/{lot_id}/moves", None,
         200),
        ("get", "/v1/lots/DOC-1/trace?direction=downstream",
         "/v1/lots/{lot_id}/trace", None, 200),
        ("get", "/v1/locations/WH%2FStock/lots",
         "/v1/locations/{location_id}/lots", None, 200),
    ]
    comps = to_json_schema(spec.get("components", {}))
    srv = Server()
    try:
        for method, url, path, body, want in calls:
            status, text = srv.call(method, url, body)
            what = "%s %s -> %d" % (method.upper(), url, status)
            if not check(status == want, "%s (expected %d)" % (what, want)):
                continue
            schema = response_schema(spec, method, path, status)
            if not check(schema is not None,
                         "%s: status %d is documented" % (what, status)):
                continue
            doc = dict(to_json_schema(copy.deepcopy(schema)),
                       components=comps)
            try:
                jsonschema.validate(json.loads(text), doc)
                check(True, "%s matches the documented schema" % what)
            except jsonschema.ValidationError as e:
                check(False, "%s: %s at %s" % (what, e.message,
                                               list(e.absolute_path)))
        status, text = srv.call("get", "/metrics")
        check(status == 200 and "# TYPE lotline_" in text,
              "GET /metrics -> Prometheus text")
    finally:
        srv.stop()


# ---- events.md ------------------------------------------------------------

def check_events_doc():
    import avro.schema
    with open(os.path.join(DOCS, "events.md")) as f:
        text = f.read()
    schemas = sorted(f for f in os.listdir(os.path.join(SRC, "schemas"))
                     if f.endswith(".avsc"))
    for name in schemas:
        with open(os.path.join(SRC, "schemas", name)) as f:
            raw = f.read()
        sch = avro.schema.parse(raw)
        fp = "0x%016x" % crc64_avro(canonical_form(sch).encode())
        ver = name[:-len(".avsc")]
        check(re.search(r"`%s`\s*\|\s*`%s`" % (re.escape(ver), fp), text),
              "events.md: fingerprint of %s is %s" % (ver, fp))
        for field in json.loads(raw)["fields"]:
            check("`%s`" % field["name"] in text,
                  "events.md: %s field %s is described" % (ver,
                                                          field["name"]))


# ---- cli.md -----------------------------------------------------------------

def check_cli_doc():
    out = subprocess.run([os.path.join(BIN, "lotline"), "--help"],
                         capture_output=True, text=True).stdout
    block = out.split("Commands:", 1)[1].split("\n\n", 1)[0]
    commands = [line.split()[0] for line in block.splitlines()
                if line.strip()]
    check(len(commands) >= 6, "lotline --help lists %d commands"
          % len(commands))
    with open(os.path.join(DOCS, "cli.md")) as f:
        text = f.read()
    for c in commands:
        check(re.search(r"^## `lotline %s`|\*\*`lotline %s\b" % (c, c), text,
                        re.M), "cli.md has a section for `lotline %s`" % c)


# ---- links ------------------------------------------------------------------

def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(md_path):
    with open(md_path) as f:
        return {slug(m.group(1)) for m in
                re.finditer(r"^#+\s+(.*)$", f.read(), re.M)}


def check_links():
    files = [os.path.join(SRC, "README.md")] + sorted(
        os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md"))
    for md in files:
        with open(md) as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, mailto:
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(md), path)) \
                if path else md
            rel = os.path.relpath(md, SRC)
            if not os.path.exists(full) and \
                    os.path.basename(full) in OTHER_BRANCH_DOCS:
                print("skip %s -> %s (written on another branch)"
                      % (rel, target))
                continue
            if not check(os.path.exists(full), "%s -> %s exists"
                         % (rel, target)):
                continue
            if anchor and full.endswith(".md"):
                check(anchor in anchors(full), "%s -> %s: heading exists"
                      % (rel, target))


def main():
    spec = check_openapi()
    check_live(spec)
    check_events_doc()
    check_cli_doc()
    check_links()
    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("all documentation checks passed")


if __name__ == "__main__":
    main()
