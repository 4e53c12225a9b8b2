#!/usr/bin/python3
"""`lotline import` and `lotline generate` against a real `lotlined all`.

The CSV file interleaves several products whose moves form chains (each
move takes what the previous one brought), so any reordering within a
product would show up as INSUFFICIENT_STOCK; it also holds rows the rules
reject and rows the CLI cannot read. Checked: the exit status, the summary
by code, the rejects file (rows, line numbers, codes, re-importable), the
quantities the API ends up with, that importing the same file again applies
nothing twice (nor does an edited copy: unchanged rows keep their event
ids), that an unknown column or key refuses the file, NDJSON, and
generate's name series, its re-run and a corrected re-run; and that a lot
is (product_id, lot_id): one lot id under two products, AMBIGUOUS_LOT for
a move row that does not say which."""
import csv
import io
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
PRODUCTS = 5
CHAIN = 12  # dependent moves per product


def wait_file(path, timeout_s=30):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                line = f.readline().strip()
            if line:
                return line
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + path)


def lotline(data, *args, want_rc=None):
    p = subprocess.run([os.path.join(BIN, "lotline"), "--data", data] +
                       list(args), capture_output=True, text=True, timeout=120)
    if want_rc is not None and p.returncode != want_rc:
        raise AssertionError("lotline %s: exit %d, want %d\nstdout:\n%s\n"
                             "stderr:\n%s" % (" ".join(args), p.returncode,
                                              want_rc, p.stdout, p.stderr))
    return p


def locations(http, lot_id):
    url = "http://%s/v1/lots/%s/locations?all=1" % (http, lot_id)
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.loads(r.read())
    return {row["location"]: row["quantity"] for row in doc["locations"]}


def summary_codes(stdout):
    """The 'Rejected by code' block as a dict."""
    codes, inside = {}, False
    for line in stdout.splitlines():
        if line.startswith("Rejected by code:"):
            inside = True
        elif inside and line.startswith("  "):
            code, count = line.split()
            codes[code] = int(count)
        else:
            inside = False
    return codes


HEADER = ["type", "lot_id", "product_id", "name", "tracking", "quantity",
          "from", "from_usage", "to", "to_usage", "reference"]


def build_csv():
    """Rows interleaved across products; returns (text, expectations)."""
    per_product = []
    for p in range(PRODUCTS):
        prod, lot = "IMP-P%d" % p, "IMP-L%d" % p
        rows = [["lot", lot, prod, "N-%d" % p, "lot", "", "", "", "", "",
                 "PO-%d" % p],
                ["move", lot, prod, "", "", "100", "Vendors/Acme",
                 "supplier", "Shelf-0", "", "WH/IN/%d" % p]]
        for k in range(CHAIN):
            # Each step moves everything the previous step brought.
            rows.append(["move", lot, prod, "", "", "100",
                         "Shelf-%d" % k, "", "Shelf-%d" % (k + 1), "",
                         "INT/%d/%d" % (p, k)])
        per_product.append(rows)
    lines = []
    for i in range(max(len(r) for r in per_product)):
        for rows in per_product:
            if i < len(rows):
                lines.append(rows[i])
    bad = [
        # the rules say no
        ["move", "IMP-L0", "IMP-P0", "", "", "5000", "Shelf-%d" % CHAIN, "",
         "Customers/Bob", "customer", "SO-1"],           # INSUFFICIENT_STOCK
        ["move", "IMP-NOPE", "IMP-P1", "", "", "1", "Shelf-0", "",
         "Shelf-1", "", ""],                              # UNKNOWN_LOT
        ["lot", "IMP-L9", "IMP-P2", "N-2", "lot", "", "", "", "", "", ""],
        # DUPLICATE_LOT (name N-2 taken in IMP-P2)
        ["move", "IMP-L3", "IMP-P3", "", "", "0.1234567", "Shelf-0", "",
         "Shelf-1", "", ""],                              # INVALID_QUANTITY
    ]
    lines.extend(bad)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(lines)
    # rows the CLI cannot read
    buf.write("move,IMP-L4,IMP-P4\n")                       # BAD_ROW
    buf.write('move,"IMP-L4,IMP-P4,,,1,Shelf-0,,Shelf-1,,\n')  # BAD_ROW
    # a deliverable row after the bad ones
    buf.write("move,IMP-L4,IMP-P4,,,40,Shelf-%d,,Customers/Eve,CUSTOMER,"
              "SO-9\n" % CHAIN)
    good = len(lines) - len(bad) + 1
    return buf.getvalue(), good


def main():
    tmp = tempfile.mkdtemp(prefix="lotline-import-")
    data = os.path.join(tmp, "data")
    logf = open(os.path.join(tmp, "lotlined.log"), "w")
    proc = subprocess.Popen(
        [os.path.join(BIN, "lotlined"), "all", "--data", data, "--http",
         "127.0.0.1:0"], stdout=logf, stderr=logf)
    ok = False
    try:
        http = wait_file(os.path.join(data, "http.addr"))
        text, good = build_csv()
        path = os.path.join(tmp, "stock.csv")
        with open(path, "w") as f:
            f.write(text)

        # 1. The import: valid and invalid rows.
        p = lotline(data, "import", path, "--concurrency", "8", want_rc=1)
        rows = good + 6
        want = "Imported %s: %d rows, %d accepted, 6 rejected." % (
            path, rows, good)
        assert want in p.stdout, p.stdout
        codes = summary_codes(p.stdout)
        assert codes == {"BAD_ROW": 2, "INSUFFICIENT_STOCK": 1,
                         "UNKNOWN_LOT": 1, "DUPLICATE_LOT": 1,
                         "INVALID_QUANTITY": 1}, codes
        assert "%s.rejected" % path in p.stdout
        # Progress lines on stderr (not a terminal here).
        assert "rows (100%)" in p.stderr, p.stderr

        # 2. The rejects file: the rows, their lines and reasons.
        with open(path + ".rejected") as f:
            rej = list(csv.reader(f))
        assert rej[0] == HEADER + ["error_line", "error_code",
                                   "error_message"], rej[0]
        by_code = {r[-2]: r for r in rej[1:]}
        assert set(by_code) == set(codes), by_code.keys()
        assert len(rej) == 1 + 6
        ins = by_code["INSUFFICIENT_STOCK"]
        assert ins[:HEADER.index("to") + 1] == [
            "move", "IMP-L0", "IMP-P0", "", "", "5000", "Shelf-%d" % CHAIN,
            "", "Customers/Bob"], ins
        assert "100 available" in ins[-1] and "5000" in ins[-1], ins
        src_lines = text.splitlines()
        for r in rej[1:]:
            line = int(r[-3])
            if r[-2] != "BAD_ROW":
                assert src_lines[line - 1].startswith(",".join(r[:3])), (
                    line, r)

        # 3. Every chain arrived in order: all 100 at the last shelf.
        for i in range(PRODUCTS):
            q = locations(http, "IMP-L%d" % i)
            want_q = {"Vendors/Acme": "-100",
                      "Shelf-%d" % CHAIN: "100"}
            if i == 4:
                want_q = {"Vendors/Acme": "-100", "Shelf-%d" % CHAIN: "60",
                          "Customers/Eve": "40"}
            assert q == want_q, (i, q)

        # 4. The same file again: the same outcome, nothing applied twice.
        p2 = lotline(data, "import", path, "--quiet", want_rc=1)
        assert want in p2.stdout and summary_codes(p2.stdout) == codes, \
            p2.stdout
        assert p2.stderr == "", p2.stderr
        assert locations(http, "IMP-L4")["Customers/Eve"] == "40"

        # 5. Fix the rejects file and import it: only the fixed rows go.
        fixed = path + ".fixed.csv"
        with open(fixed, "w") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(rej[0])
            for r in rej[1:]:
                if r[-2] == "INSUFFICIENT_STOCK":
                    r[HEADER.index("quantity")] = "25"
                    w.writerow(r)
        p3 = lotline(data, "import", fixed, "--json", want_rc=0)
        doc = json.loads(p3.stdout)
        assert doc["accepted"] == 1 and doc["rejected"] == 0, doc
        assert doc["rejects_file"] is None
        assert locations(http, "IMP-L0")["Customers/Bob"] == "25"

        # 5b. The original file edited: the rejected row fixed as above, a
        # new row on top (every line moves). Unchanged rows keep their
        # event ids, the fixed row is the event the rejects file already
        # sent: nothing is applied twice, only the new row is new.
        edited = os.path.join(tmp, "stock-edited.csv")
        src = text.splitlines()
        bad_row = next(i for i, line in enumerate(src)
                       if line.startswith("move,IMP-L0,IMP-P0,,,5000,"))
        src[bad_row] = src[bad_row].replace(",5000,", ",25,")
        src.insert(1, "lot,IMP-NEW,IMP-P0,N-NEW,lot,,,,,,PO-NEW")
        with open(edited, "w") as f:
            f.write("\n".join(src) + "\n")
        p5 = lotline(data, "import", edited, "--quiet", want_rc=1)
        assert "%d rows, %d accepted, 5 rejected." % (rows + 1, good + 2) \
            in p5.stdout, p5.stdout
        assert "INSUFFICIENT_STOCK" not in summary_codes(p5.stdout)
        assert locations(http, "IMP-L0")["Customers/Bob"] == "25"
        assert locations(http, "IMP-L4")["Customers/Eve"] == "40"
        for i in range(PRODUCTS - 1):
            assert locations(http, "IMP-L%d" % i)["Vendors/Acme"] == "-100"

        # 5c. Strict input: an unknown CSV column or NDJSON key refuses the
        # whole file (exit 2, naming it), before anything is sent.
        typo = os.path.join(tmp, "typo.csv")
        with open(typo, "w") as f:
            f.write("type,lot_id,product_id,name,refrence\n"
                    "lot,IMP-TYPO,IMP-P0,N-TYPO,PO-1\n")
        p6 = lotline(data, "import", typo, want_rc=2)
        assert "line 1: unknown column 'refrence'" in p6.stderr, p6.stderr
        typo_nd = os.path.join(tmp, "typo.ndjson")
        with open(typo_nd, "w") as f:
            f.write(json.dumps({"type": "lot", "lot_id": "IMP-TYPO",
                                "product_id": "IMP-P0", "name": "N-TYPO"})
                    + "\n")
            f.write(json.dumps({"type": "lot", "lot_id": "IMP-TYPO2",
                                "product_id": "IMP-P0", "name": "N-TYPO2",
                                "refrence": "PO-1"}) + "\n")
        p7 = lotline(data, "import", typo_nd, want_rc=2)
        assert "line 2: unknown key 'refrence'" in p7.stderr, p7.stderr
        try:
            urllib.request.urlopen("http://%s/v1/lots/IMP-TYPO" % http)
            raise AssertionError("a row of a refused file was sent")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e

        # 6. NDJSON, with a rejects file elsewhere.
        nd = os.path.join(tmp, "more.ndjson")
        with open(nd, "w") as f:
            f.write(json.dumps({"type": "lot", "lot_id": "IMP-J1",
                                "product_id": "IMP-J", "name": "J1"}) + "\n")
            f.write("\n")
            f.write(json.dumps({
                "type": "move", "lot_id": "IMP-J1", "product_id": "IMP-J",
                "quantity": "3.5",
                "from": {"id": "Vendors/Acme", "usage": "SUPPLIER"},
                "to": {"id": "WH/Stock", "usage": "INTERNAL"}}) + "\n")
            f.write("{oops\n")
            f.write(json.dumps({
                "type": "move", "lot_id": "IMP-J1", "product_id": "IMP-J",
                "quantity": "9",
                "from": {"id": "WH/Stock", "usage": "INTERNAL"},
                "to": {"id": "C", "usage": "CUSTOMER"}}) + "\n")
        rpath = os.path.join(tmp, "nd.rej")
        p4 = lotline(data, "import", nd, "--rejects", rpath, want_rc=1)
        assert "4 rows, 2 accepted, 2 rejected" in p4.stdout, p4.stdout
        with open(rpath) as f:
            nrej = [json.loads(x) for x in f]
        assert [r["error"]["code"] for r in nrej] == [
            "BAD_ROW", "INSUFFICIENT_STOCK"], nrej
        assert [r["error"]["line"] for r in nrej] == [4, 5], nrej
        assert nrej[0]["raw"] == "{oops" and nrej[1]["quantity"] == "9"
        assert locations(http, "IMP-J1")["WH/Stock"] == "3.5"

        # 6b. A lot is (product_id, lot_id): IMP-TWIN under two products,
        # both accepted; a move row without product_id is AMBIGUOUS_LOT,
        # with it each lot gets its own stock; the same lot id again under
        # one product is LOT_ID_TAKEN.
        twin = os.path.join(tmp, "twin.csv")
        with open(twin, "w") as f:
            f.write("type,lot_id,product_id,name,quantity,from,from_usage,to\n"
                    "lot,IMP-TWIN,IMP-TA,TA,,,,\n"
                    "lot,IMP-TWIN,IMP-TB,TB,,,,\n"
                    "lot,IMP-TWIN,IMP-TA,TA2,,,,\n")
        pt = lotline(data, "import", twin, want_rc=1)
        assert "3 rows, 2 accepted, 1 rejected" in pt.stdout, pt.stdout
        assert summary_codes(pt.stdout) == {"LOT_ID_TAKEN": 1}, pt.stdout
        with open(twin, "w") as f:
            f.write("type,lot_id,product_id,quantity,from,from_usage,to\n"
                    "move,IMP-TWIN,,1,Vendors/Acme,supplier,WH/Stock\n"
                    "move,IMP-TWIN,IMP-TA,2,Vendors/Acme,supplier,WH/Stock\n"
                    "move,IMP-TWIN,IMP-TB,5,Vendors/Acme,supplier,WH/Stock\n")
        pt = lotline(data, "import", twin, want_rc=1)
        assert "3 rows, 2 accepted, 1 rejected" in pt.stdout, pt.stdout
        assert summary_codes(pt.stdout) == {"AMBIGUOUS_LOT": 1}, pt.stdout
        for product, want_q in (("IMP-TA", "2"), ("IMP-TB", "5")):
            url = ("http://%s/v1/products/%s/lots/IMP-TWIN/locations" %
                   (http, product))
            with urllib.request.urlopen(url, timeout=10) as r:
                doc = json.loads(r.read())
            assert doc["on_hand"] == want_q and \
                doc["product_id"] == product, doc
        try:
            urllib.request.urlopen("http://%s/v1/lots/IMP-TWIN" % http)
            raise AssertionError("the plain route named one of two lots")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            assert e.code == 409 and body["code"] == "AMBIGUOUS_LOT" and \
                body["products"] == ["IMP-TA", "IMP-TB"], (e.code, body)
        # The CLI: without --product the API's AMBIGUOUS_LOT and the
        # products, exit 1; with it, the lot.
        ps = lotline(data, "show", "IMP-TWIN", want_rc=1)
        assert "AMBIGUOUS_LOT" in ps.stderr and \
            "products: IMP-TA, IMP-TB" in ps.stderr, ps.stderr
        ps = lotline(data, "--json", "locations", "IMP-TWIN", "--product",
                     "IMP-TB", want_rc=0)
        doc = json.loads(ps.stdout)
        assert doc["product_id"] == "IMP-TB" and doc["on_hand"] == "5", doc
        ps = lotline(data, "update", "IMP-TWIN", "--product", "IMP-TA",
                     "--reference", "PO-TA", want_rc=0)
        ps = lotline(data, "--json", "show", "IMP-TWIN", "--product", "IMP-TA",
                     want_rc=0)
        assert json.loads(ps.stdout)["reference"] == "PO-TA", ps.stdout

        # 7. generate: a name series, a re-run, a conflicting run.
        g = lotline(data, "generate", "--product", "IMP-G", "--first",
                    "SN-0098", "--count", "4", "--tracking", "serial",
                    "--dry-run", want_rc=0)
        assert g.stdout.split() == [
            "SN-0098", "IMP-G-SN-0098", "SN-0099", "IMP-G-SN-0099",
            "SN-0100", "IMP-G-SN-0100", "SN-0101", "IMP-G-SN-0101"], g.stdout
        for _ in range(2):  # the second run answers from the first
            g = lotline(data, "generate", "--product", "IMP-G", "--first",
                        "SN-0098", "--count", "4", "--tracking", "serial",
                        want_rc=0)
            assert "4 accepted, 0 rejected." in g.stdout, g.stdout
        with urllib.request.urlopen(
                "http://%s/v1/lots?product_id=IMP-G" % http) as r:
            lots = json.loads(r.read())["lots"]
        assert sorted(x["name"] for x in lots) == [
            "SN-0098", "SN-0099", "SN-0100", "SN-0101"], lots
        assert {x["tracking"] for x in lots} == {"SERIAL"}
        g = lotline(data, "generate", "--product", "IMP-G", "--first",
                    "SN-0101", "--count", "2", "--lot-id-prefix", "G/",
                    want_rc=1)
        assert "0 accepted, 2 rejected." in g.stdout, g.stdout
        assert summary_codes(g.stdout) == {"DUPLICATE_LOT": 1,
                                           "TRACKING_MISMATCH": 1}, g.stdout
        # 8. A corrected generate: rejected, then run again with the right
        # tracking. The ids follow the content, so the corrected run is
        # decided afresh (not the old rejection again), and running it once
        # more changes nothing.
        args = ["generate", "--product", "IMP-G", "--first", "SN-0200",
                "--count", "2"]
        g = lotline(data, *args, want_rc=1)
        assert summary_codes(g.stdout) == {"TRACKING_MISMATCH": 2}, g.stdout
        for _ in range(2):
            g = lotline(data, *(args + ["--tracking", "serial"]), want_rc=0)
            assert "2 accepted, 0 rejected." in g.stdout, g.stdout
        with urllib.request.urlopen(
                "http://%s/v1/lots?product_id=IMP-G&limit=100" % http) as r:
            names = sorted(x["name"] for x in json.loads(r.read())["lots"])
        assert names.count("SN-0200") == 1 and "SN-0201" in names, names
        print("import: %d rows (%d accepted, 6 rejected by code %s); "
              "re-import applied nothing twice; generate series ok" % (
                  rows, good, codes))
        ok = True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        logf.close()
        if not ok:
            with open(os.path.join(tmp, "lotlined.log")) as f:
                sys.stderr.write(f.read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    if rc != 0:
        raise AssertionError("lotlined exited with %d" % rc)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
