#!/usr/bin/python3
"""The documentation says what the code does.

  - docs/openapi.yaml is OpenAPI 3 and every $ref resolves;
  - docs/openapi.yaml and the route table of docs/api.md agree with the
    route table the server routes on (printed as JSON by
    lotline-api-routes, built from services/http/api_routes.c), both ways:
    every route, query parameter (with its type), body field (with its
    type) and status of the table is documented, and nothing is documented
    that the table does not have;
  - every answer a running lotlined gives (success and error bodies alike,
    with bearer tokens on, so 401 and 403 too) validates against the
    schema documented for that route and status, and holds no field that
    schema does not document;
  - docs/rejections.md's table has a row for every rejection code the
    code has and none it has not, and its HTTP column gives the statuses
    the writes answer (api_status_for_rejection, via lotline-api-routes);
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

READ_TOKEN = "docs-read-token"
WRITE_TOKEN = "docs-write-token"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch",
                "trace"}

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


# ---- the route table ------------------------------------------------------

def route_table():
    out = subprocess.run([os.path.join(BIN, "lotline-api-routes")],
                         capture_output=True, text=True, check=True).stdout
    table = json.loads(out)
    check(len(table["routes"]) >= 10, "lotline-api-routes prints %d routes"
          % len(table["routes"]))
    return table


def deref(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"])
    return node


def schema_type(spec, node):
    """The OpenAPI type of a schema, through $ref and allOf."""
    node = deref(spec, node)
    if "type" in node:
        return node["type"]
    for sub in node.get("allOf", []):
        t = schema_type(spec, sub)
        if t:
            return t
    return None


def schema_properties(spec, node):
    """{name: schema} of an object schema, through $ref and allOf."""
    node = deref(spec, node)
    props = dict(node.get("properties", {}))
    for sub in node.get("allOf", []):
        props.update(schema_properties(spec, sub))
    return props


def compare(what, documented, actual):
    """Both ways: nothing missing, nothing extra."""
    missing = sorted(set(actual) - set(documented))
    extra = sorted(set(documented) - set(actual))
    check(not missing, "%s: documents all of %s%s" % (
        what, sorted(actual), " (missing %s)" % missing if missing else ""))
    check(not extra, "%s: documents nothing else%s" % (
        what, " (not in the route table: %s)" % extra if extra else ""))


def query_params(spec, path_item, op):
    params = {}
    for p in path_item.get("parameters", []) + op.get("parameters", []):
        p = deref(spec, p)
        if p.get("in") == "query":
            params[p["name"]] = schema_type(spec, p.get("schema", {}))
    return params


def body_fields(spec, op):
    body = op.get("requestBody")
    if body is None:
        return None
    schema = deref(spec, body)["content"]["application/json"]["schema"]
    return {k: schema_type(spec, v)
            for k, v in schema_properties(spec, schema).items()}


def check_openapi_table(spec, table):
    """openapi.yaml against the route table, both ways."""
    paths = spec.get("paths", {})
    documented = {(m.upper(), path) for path, item in paths.items()
                  for m in item if m in HTTP_METHODS}
    routes = {(r["method"], r["path"]): r for r in table["routes"]}
    compare("openapi.yaml routes", documented, routes)
    for (method, path), r in sorted(routes.items()):
        item = paths.get(path, {})
        op = item.get(method.lower())
        if op is None:
            continue
        name = "openapi.yaml %s %s" % (method, path)
        params = query_params(spec, item, op)
        want = {q["name"]: q["type"] for q in r["query"]}
        compare(name + " query parameters", params, want)
        for k in set(params) & set(want):
            check(params[k] == want[k], "%s ?%s is %s" % (name, k, want[k]))
        compare(name + " statuses", [int(s) for s in op["responses"]],
                r["statuses"])
        fields = body_fields(spec, op)
        if r["body"] is None:
            check(fields is None, name + " takes no body")
            continue
        want = {f["name"]: f["type"] for f in r["body"]}
        compare(name + " body fields", fields or {}, want)
        for k in set(fields or {}) & set(want):
            check(fields[k] == want[k], "%s body field %s is %s"
                  % (name, k, want[k]))
    location = schema_properties(spec, resolve(
        spec, "#/components/schemas/Location"))
    compare("openapi.yaml Location (from, to) fields", location,
            [f["name"] for f in table["location_fields"]])


def md_names(cell):
    return [] if cell.strip() in ("—", "-", "") else \
        re.findall(r"`([^`]+)`", cell)


def check_api_md_table(table):
    """The route table of docs/api.md against the server's, both ways."""
    with open(os.path.join(DOCS, "api.md")) as f:
        text = f.read()
    section = text.split("\n## Routes\n", 1)[-1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not re.fullmatch(r"`[A-Z]+`", cells[0]):
            continue
        method, path = cells[0].strip("`"), cells[1].strip("`")
        rows[(method, path)] = cells
    routes = {(r["method"], r["path"]): r for r in table["routes"]}
    compare("api.md routes", rows, routes)
    for key in sorted(set(rows) & set(routes)):
        cells, r = rows[key], routes[key]
        name = "api.md %s %s" % key
        compare(name + " query parameters", md_names(cells[2]),
                [q["name"] for q in r["query"]])
        compare(name + " body fields", md_names(cells[3]),
                [f["name"] for f in r["body"] or []])
        compare(name + " statuses",
                [int(x) for x in re.findall(r"\d{3}", cells[4])],
                r["statuses"])


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
        env = dict(os.environ, LOTLINE_HTTP_TOKEN_READ=READ_TOKEN,
                   LOTLINE_HTTP_TOKEN_WRITE=WRITE_TOKEN)
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "lotlined"), "all", "--data", data,
             "--http", "127.0.0.1:0"], stdout=self.log, stderr=self.log,
            env=env)
        addr = os.path.join(data, "http.addr")
        deadline = time.time() + 30
        while not (os.path.exists(addr) and open(addr).read().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                raise AssertionError("lotlined did not start")
            time.sleep(0.05)
        self.base = "http://" + open(addr).read().strip()

    def call(self, method, path, body=None, token=WRITE_TOKEN):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        req = urllib.request.Request(
            self.base + path, method=method.upper(),
            data=None if body is None else body.encode(), headers=headers)
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


def undocumented(spec, value, schema, where):
    """Members of value that schema does not document (through $ref,
    allOf, anyOf and items), as "where.name" strings."""
    schema = deref(spec, schema)
    subs = [deref(spec, x) for x in schema.get("allOf", []) +
            schema.get("anyOf", []) + schema.get("oneOf", [])]
    if isinstance(value, dict):
        props = schema_properties(spec, schema)
        for sub in subs:
            props.update(schema_properties(spec, sub))
        out = []
        for k, v in value.items():
            if k not in props:
                out.append("%s.%s" % (where, k))
            else:
                out += undocumented(spec, v, props[k], "%s.%s" % (where, k))
        return out
    if isinstance(value, list):
        items = schema.get("items") or next(
            (x["items"] for x in subs if "items" in x), None)
        if items is None:
            return []
        return [u for i, v in enumerate(value)
                for u in undocumented(spec, v, items, "%s[%d]" % (where, i))]
    return []


def live_calls():
    """(method, request path, OpenAPI path, body, token, expected status):
    every route, its success and its errors, 401 and 403 included."""
    lot = json.dumps({"lot_id": "DOC-1", "product_id": "P-DOC",
                      "name": "0001", "reference": "PO-1",
                      "expiration_at": "2027-03-01T00:00:00Z"})
    flour = json.dumps({"lot_id": "DOC-F", "product_id": "P-FLOUR",
                        "name": "F1"})
    move = json.dumps({"product_id": "P-DOC", "lot_id": "DOC-1",
                       "quantity": "10",
                       "from": {"id": "Vendors/A", "usage": "SUPPLIER"},
                       "to": {"id": "WH/Stock", "usage": "INTERNAL"}})
    consume = json.dumps({"lot_id": "DOC-1", "quantity": "2",
                          "reference": "MO-1",
                          "from": {"id": "WH/Stock", "usage": "INTERNAL"},
                          "to": {"id": "Production", "usage": "PRODUCTION"}})
    produce = json.dumps({"lot_id": "DOC-F", "quantity": "1",
                          "reference": "MO-1",
                          "from": {"id": "Production", "usage": "PRODUCTION"},
                          "to": {"id": "WH/Stock/A", "usage": "INTERNAL"}})
    deliver = json.dumps({"lot_id": "DOC-F", "quantity": "1",
                          "reference": "SO-1",
                          "from": {"id": "WH/Stock/A", "usage": "INTERNAL"},
                          "to": {"id": "Customers/B", "usage": "CUSTOMER"}})
    too_much = json.dumps({"product_id": "P-DOC", "lot_id": "DOC-1",
                           "quantity": "99",
                           "from": {"id": "WH/Stock", "usage": "INTERNAL"},
                           "to": {"id": "Customers/B", "usage": "CUSTOMER"}})
    W, R = WRITE_TOKEN, READ_TOKEN
    lots, lot_p = "/v1/lots", "/v1/lots/{lot_id}"
    locs, hist = "/v1/lots/{lot_id}/locations", "/v1/lots/{lot_id}/moves"
    trace, where = "/v1/lots/{lot_id}/trace", "/v1/locations/{location_id}/lots"
    plot = "/v1/products/{product_id}/lots/{lot_id}"
    plocs, phist = plot + "/locations", plot + "/moves"
    ptrace = plot + "/trace"
    return [
        ("post", lots, lots, lot, W, 201),
        ("post", lots, lots, flour, W, 201),
        ("post", lots, lots, lot.replace("DOC-1", "DOC-2"), W, 409),
        ("post", lots, lots, "{bad", W, 400),
        ("post", lots, lots, lot.replace("reference", "referense"), W, 400),
        ("post", lots, lots, lot, None, 401),
        ("post", lots, lots, lot, R, 403),
        ("post", lots, lots,
         json.dumps({"lot_id": "DOC-3", "product_id": "P-DOC", "name": "3",
                     "expiration_at": "2027-03-01T00:00:00Z",
                     "alert_at": "2027-04-01T00:00:00Z"}), W, 422),
        ("post", "/v1/moves", "/v1/moves", move, W, 201),
        ("post", "/v1/moves", "/v1/moves", consume, W, 201),
        ("post", "/v1/moves", "/v1/moves", produce, W, 201),
        ("post", "/v1/moves", "/v1/moves", deliver, W, 201),
        ("post", "/v1/moves", "/v1/moves", too_much, W, 422),
        ("post", "/v1/moves", "/v1/moves", move.replace("}}", ',"x":1}}'),
         W, 400),
        ("post", "/v1/moves", "/v1/moves", move, None, 401),
        ("post", "/v1/moves", "/v1/moves", move, R, 403),
        ("patch", "/v1/lots/DOC-1", lot_p,
         json.dumps({"reference": "PO-2", "expected_version": 1}), W, 200),
        ("patch", "/v1/lots/DOC-1", lot_p,
         json.dumps({"reference": "PO-3", "expected_version": 1}), W, 409),
        ("patch", "/v1/lots/NOPE", lot_p, json.dumps({"reference": "x"}), W,
         404),
        ("patch", "/v1/lots/DOC-1", lot_p, json.dumps({"tracking": "LOT"}),
         W, 400),
        ("patch", "/v1/lots/DOC-1", lot_p, json.dumps({"name": "x"}), None,
         401),
        ("patch", "/v1/lots/DOC-1", lot_p, json.dumps({"name": "x"}), R, 403),
        ("get", "/v1/lots/DOC-1", lot_p, None, R, 200),
        ("get", "/v1/lots/DOC-1?min_position=1", lot_p, None, R, 200),
        ("get", "/v1/lots/NOPE", lot_p, None, R, 404),
        ("get", "/v1/lots/DOC-1?as_of=1", lot_p, None, R, 400),
        ("get", "/v1/lots/DOC-1", lot_p, None, None, 401),
        ("get", "/v1/lots?product_id=P-DOC&limit=1", lots, None, R, 200),
        ("get", "/v1/lots?q=doc&cursor=DOC-0", lots, None, R, 200),
        ("get", "/v1/lots?expiring_before=2028-01-01T00:00:00Z", lots, None,
         R, 200),
        ("get", "/v1/lots?location=WH&children=1", lots, None, R, 200),
        ("get", "/v1/lots?limit=0", lots, None, R, 400),
        ("get", "/v1/lots?product=P-DOC", lots, None, R, 400),
        ("get", "/v1/lots", lots, None, None, 401),
        ("get", "/v1/lots/DOC-1/locations?all=1", locs, None, R, 200),
        ("get", "/v1/lots/DOC-1/locations?as_of=2", locs, None, R, 200),
        ("get", "/v1/lots/DOC-1/locations?as_of=2099-01-01T00:00:00Z", locs,
         None, R, 200),
        ("get", "/v1/lots/DOC-1/locations?as_of=soon", locs, None, R, 400),
        ("get", "/v1/lots/NOPE/locations", locs, None, R, 404),
        ("get", "/v1/lots/DOC-1/locations", locs, None, None, 401),
        ("get", "/v1/lots/DOC-1/moves?limit=2", hist, None, R, 200),
        ("get", "/v1/lots/DOC-1/moves?cursor=2", hist, None, R, 200),
        ("get", "/v1/lots/DOC-1/moves?cursor=x", hist, None, R, 400),
        ("get", "/v1/lots/NOPE/moves", hist, None, R, 404),
        ("get", "/v1/lots/DOC-1/moves", hist, None, None, 401),
        ("get", "/v1/lots/DOC-1/trace", trace, None, R, 200),
        ("get", "/v1/lots/DOC-F/trace?direction=upstream&depth=2", trace,
         None, R, 200),
        ("get", "/v1/lots/DOC-1/trace?as_of=2", trace, None, R, 400),
        ("get", "/v1/lots/NOPE/trace", trace, None, R, 404),
        ("get", "/v1/lots/DOC-1/trace", trace, None, None, 401),
        ("get", "/v1/locations/WH%2FStock/lots", where, None, R, 200),
        ("get", "/v1/locations/WH/lots?children=1&limit=1", where, None, R,
         200),
        ("get", "/v1/locations/WH/lots?chidren=1", where, None, R, 400),
        ("get", "/v1/locations/WH/lots", where, None, None, 401),
        ("get", "/v1/rejections?limit=10", "/v1/rejections", None, R, 200),
        ("get", "/v1/rejections?cursor=1", "/v1/rejections", None, R, 400),
        ("get", "/v1/rejections", "/v1/rejections", None, None, 401),
        ("get", "/healthz", "/healthz", None, None, 200),
        ("get", "/healthz?verbose=1", "/healthz", None, None, 400),
        ("get", "/readyz", "/readyz", None, None, 200),
        ("get", "/v1/cluster", "/v1/cluster", None, R, 200),
        ("get", "/v1/cluster?x=1", "/v1/cluster", None, R, 400),
        ("get", "/v1/cluster", "/v1/cluster", None, None, 401),
        ("get", "/readyz?x=1", "/readyz", None, None, 400),
        ("get", "/metrics?x=1", "/metrics", None, R, 400),
        ("get", "/metrics", "/metrics", None, None, 401),
        # A lot is (product_id, lot_id): the product-scoped routes.
        ("get", "/v1/products/P-DOC/lots/DOC-1", plot, None, R, 200),
        ("get", "/v1/products/P-NOPE/lots/DOC-1", plot, None, R, 404),
        ("get", "/v1/products/P-DOC/lots/DOC-1?as_of=1", plot, None, R, 400),
        ("get", "/v1/products/P-DOC/lots/DOC-1", plot, None, None, 401),
        ("patch", "/v1/products/P-DOC/lots/DOC-1", plot,
         json.dumps({"reference": "PO-4"}), W, 200),
        ("patch", "/v1/products/P-DOC/lots/DOC-1", plot,
         json.dumps({"product_id": "P-FLOUR"}), W, 409),
        ("patch", "/v1/products/P-DOC/lots/DOC-1", plot,
         json.dumps({"expiration_at": "2027-03-01T00:00:00Z",
                     "alert_at": "2027-04-01T00:00:00Z"}), W, 422),
        ("patch", "/v1/products/P-NOPE/lots/DOC-1", plot,
         json.dumps({"reference": "x"}), W, 404),
        ("patch", "/v1/products/P-DOC/lots/DOC-1", plot,
         json.dumps({"tracking": "LOT"}), W, 400),
        ("patch", "/v1/products/P-DOC/lots/DOC-1", plot,
         json.dumps({"name": "x"}), None, 401),
        ("patch", "/v1/products/P-DOC/lots/DOC-1", plot,
         json.dumps({"name": "x"}), R, 403),
        ("get", "/v1/products/P-DOC/lots/DOC-1/locations?all=1", plocs, None,
         R, 200),
        ("get", "/v1/products/P-DOC/lots/DOC-1/locations?as_of=soon", plocs,
         None, R, 400),
        ("get", "/v1/products/P-NOPE/lots/DOC-1/locations", plocs, None, R,
         404),
        ("get", "/v1/products/P-DOC/lots/DOC-1/locations", plocs, None, None,
         401),
        ("get", "/v1/products/P-DOC/lots/DOC-1/moves?limit=2", phist, None, R,
         200),
        ("get", "/v1/products/P-DOC/lots/DOC-1/moves?cursor=x", phist, None,
         R, 400),
        ("get", "/v1/products/P-NOPE/lots/DOC-1/moves", phist, None, R, 404),
        ("get", "/v1/products/P-DOC/lots/DOC-1/moves", phist, None, None,
         401),
        ("get", "/v1/products/P-FLOUR/lots/DOC-F/trace?direction=upstream",
         ptrace, None, R, 200),
        ("get", "/v1/products/P-DOC/lots/DOC-1/trace?depth=0", ptrace, None,
         R, 400),
        ("get", "/v1/products/P-NOPE/lots/DOC-1/trace", ptrace, None, R, 404),
        ("get", "/v1/products/P-DOC/lots/DOC-1/trace", ptrace, None, None,
         401),
        # DOC-1 under a second product: the plain routes are ambiguous.
        ("post", lots, lots, lot.replace("P-DOC", "P-TWO"), W, 201),
        ("get", "/v1/lots/DOC-1", lot_p, None, R, 409),
        ("get", "/v1/lots/DOC-1/locations", locs, None, R, 409),
        ("get", "/v1/lots/DOC-1/moves", hist, None, R, 409),
        ("get", "/v1/lots/DOC-1/trace", trace, None, R, 409),
        ("patch", "/v1/lots/DOC-1", lot_p, json.dumps({"reference": "x"}), W,
         409),
        ("post", "/v1/moves", "/v1/moves", move.replace(
            '"product_id": "P-DOC", ', ""), W, 409),
        ("get", "/v1/products/P-TWO/lots/DOC-1", plot, None, R, 200),
        ("post", "/v1/admin/backup", "/v1/admin/backup",
         json.dumps({"dir": "relative"}), W, 422),
        ("post", "/v1/admin/backup", "/v1/admin/backup",
         json.dumps({"dir": "/tmp", "gzip": True}), W, 400),
        ("post", "/v1/admin/backup", "/v1/admin/backup",
         json.dumps({"dir": "/tmp"}), R, 403),
        ("post", "/v1/admin/backup", "/v1/admin/backup",
         json.dumps({"dir": "/tmp"}), None, 401),
    ]


def check_answer(spec, comps, what, method, path, status, text):
    schema = response_schema(spec, method, path, status)
    if not check(schema is not None,
                 "%s: status %d is documented" % (what, status)):
        return
    if not text.startswith(("{", "[")):
        return  # text/plain
    value = json.loads(text)
    doc = dict(to_json_schema(copy.deepcopy(schema)), components=comps)
    try:
        jsonschema.validate(value, doc)
        check(True, "%s matches the documented schema" % what)
    except jsonschema.ValidationError as e:
        check(False, "%s: %s at %s" % (what, e.message,
                                       list(e.absolute_path)))
    extra = undocumented(spec, value, schema, "answer")
    check(not extra, "%s: every field is documented%s"
          % (what, " (not in openapi.yaml: %s)" % extra if extra else ""))


def check_live(spec):
    """Every answer of the running service matches the documented schema
    of its route and status, and documents every field it has."""
    comps = to_json_schema(spec.get("components", {}))
    srv = Server()
    try:
        for method, url, path, body, token, want in live_calls():
            status, text = srv.call(method, url, body, token)
            what = "%s %s -> %d" % (method.upper(), url, status)
            if check(status == want, "%s (expected %d)%s" % (
                    what, want, "" if status == want else ": " + text[:200])):
                check_answer(spec, comps, what, method, path, status, text)
        backup = tempfile.mkdtemp(prefix="lotline-docs-backup-")
        try:
            body = json.dumps({"dir": backup})
            status, text = srv.call("post", "/v1/admin/backup", body)
            what = "POST /v1/admin/backup -> %d" % status
            if check(status == 200, what + " (expected 200) " + text[:200]):
                check_answer(spec, comps, what, "post", "/v1/admin/backup",
                             200, text)
        finally:
            shutil.rmtree(backup, ignore_errors=True)
        status, text = srv.call("delete", "/v1/lots/DOC-1")
        check(status == 405 and json.loads(text)["code"] ==
              "METHOD_NOT_ALLOWED", "DELETE /v1/lots/DOC-1 -> 405")
        status, text = srv.call("get", "/metrics", token=READ_TOKEN)
        check(status == 200 and "# TYPE lotline_" in text,
              "GET /metrics -> Prometheus text")
    finally:
        srv.stop()


# ---- events.md ------------------------------------------------------------

def check_rejections_doc(table):
    """The code table of docs/rejections.md against the code's codes."""
    with open(os.path.join(DOCS, "rejections.md")) as f:
        rows = re.findall(r"^\| `([A-Z_]+)` \|[^|]*\| ([^|]*) \|", f.read(),
                          re.M)
    documented = {code: cell.strip() for code, cell in rows}
    actual = {r["code"]: r for r in table["rejections"]}
    compare("docs/rejections.md codes", set(documented), set(actual))
    for code, cell in sorted(documented.items()):
        if code not in actual:
            continue
        r = actual[code]
        if cell == "\u2014":  # the API builds the bytes: cannot happen
            check(code in ("MALFORMED", "UNKNOWN_SCHEMA", "KEY_MISMATCH",
                           "WRONG_PARTITION"),
                  "rejections.md: %s marked as impossible over HTTP" % code)
            continue
        said = {int(s) for s in re.findall(r"\b([1-5]\d\d)\b", cell)}
        answered = {r["post_lots"], r["patch_lot"], r["post_moves"]}
        check(said == answered, "rejections.md: %s answered %s over HTTP "
              "(documented: %s)" % (code, sorted(answered), cell))


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
            if not check(os.path.exists(full), "%s -> %s exists"
                         % (rel, target)):
                continue
            if anchor and full.endswith(".md"):
                check(anchor in anchors(full), "%s -> %s: heading exists"
                      % (rel, target))


def main():
    spec = check_openapi()
    table = route_table()
    check_openapi_table(spec, table)
    check_api_md_table(table)
    check_live(spec)
    check_rejections_doc(table)
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
