#!/usr/bin/python3
"""The deployment files hold together, checked without a Docker engine or a
Kubernetes cluster:

  - every YAML file under deploy/ (and docs/) parses;
  - docker-compose.yml: Kafka in KRaft mode, a Schema Registry, lotline's
    command and project services on one shared volume, the topics created,
    every LOTLINE_* variable a real config key, the API's write token
    required from the environment; and `docker-compose config`
    accepts it when docker-compose is installed;
  - deploy/k8s: a one-replica StatefulSet whose two containers mount the
    same data volume where --data points, readiness on /readyz and liveness
    on /healthz on the declared port, the ConfigMap the pod mounts exists
    and its lotline.conf is accepted by lotlined itself, the API's write
    token comes from a Secret (lotlined refuses the open API without
    it), the Service
    selects the pod and targets that port, kustomization lists every file;
  - the Dockerfile: the runtime stage installs a package for every shared
    library the built binaries need, the build stage only packages that
    deploy/install-deps.sh also installs.
Each check prints what it looked at; any failure fails the test."""
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

import yaml

SRC = os.environ.get("LOTLINE_SOURCE",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LOTLINE_BIN", os.path.join(SRC, "build", "bin"))
DEPLOY = os.path.join(SRC, "deploy")
TOPICS = ["lots.inbound", "lots.events", "lots.rejected", "lots.quantities",
          "lots.members"]
INSTANCES = 3  # the compose file's and the StatefulSet's cluster

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print("ok  " if cond else "FAIL", what)
    return cond


def known_keys():
    """Config keys from `lotlined --help` (the table of ll_config.c)."""
    out = subprocess.run([os.path.join(BIN, "lotlined"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    keys, in_table = set(), False
    for line in out.splitlines():
        if line.startswith("keys:"):
            in_table = True
        elif in_table and not line.strip():
            break
        elif in_table:
            keys.add(line.split()[0])
    assert len(keys) >= 10, out
    return keys


def env_key(name):
    """LOTLINE_SCHEMA_REGISTRY_URL -> the config key it sets, if any."""
    for k in KEYS:
        if "LOTLINE_" + re.sub(r"[.]", "_", k).upper() == name:
            return k
    return None


def load_yaml_files():
    docs = {}
    paths = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"),
                             recursive=True)
                   + glob.glob(os.path.join(SRC, "docs", "*.y*ml")))
    for p in paths:
        try:
            with open(p) as f:
                docs[p] = [d for d in yaml.safe_load_all(f) if d is not None]
            print("parsed", os.path.relpath(p, SRC), "(%d document(s))"
                  % len(docs[p]))
        except yaml.YAMLError as e:
            check(False, "%s does not parse: %s" % (p, e))
    check(len(paths) >= 5, "found the YAML files (%d)" % len(paths))
    return docs


# ---- docker-compose.yml ---------------------------------------------------

def check_compose(compose):
    svcs = compose.get("services", {})
    kafka = svcs.get("kafka", {})
    kenv = kafka.get("environment", {})
    check("apache/kafka" in kafka.get("image", "")
          or "bitnami/kafka" in kafka.get("image", ""),
          "compose: kafka uses the apache/kafka or bitnami/kafka image")
    roles = str(kenv.get("KAFKA_PROCESS_ROLES",
                         kenv.get("KAFKA_CFG_PROCESS_ROLES", "")))
    check("controller" in roles and "broker" in roles,
          "compose: kafka runs in KRaft mode (broker,controller roles)")
    check(not any("zookeeper" in n for n in svcs), "compose: no ZooKeeper")
    check(kenv.get("CLUSTER_ID") or kenv.get("KAFKA_KRAFT_CLUSTER_ID"),
          "compose: kafka has a KRaft cluster id (the image requires one)")
    reg = svcs.get("schema-registry", {})
    check("schema-registry" in reg.get("image", ""),
          "compose: a Confluent Schema Registry service")

    volumes, urls, ports = set(), set(), set()
    for i in range(1, INSTANCES + 1):
        name = "lotline-%d" % i
        s = svcs.get(name)
        if not check(s is not None, "compose: service %s" % name):
            continue
        check(s.get("command", [None])[0] == "all",
              "compose: %s runs `lotlined all`" % name)
        env = s.get("environment", {})
        for var in env:
            check(var.startswith("LOTLINE_") and env_key(var) is not None,
                  "compose: %s sets %s, which is a config key" % (name, var))
        data = env.get("LOTLINE_DATA")
        vols = [v for v in s.get("volumes", [])
                if isinstance(v, str) and v.endswith(":" + str(data))]
        check(len(vols) == 1, "compose: %s mounts a volume at its data dir %s"
              % (name, data))
        if vols:
            volumes.add(vols[0].split(":")[0])
        check(env.get("LOTLINE_BROKERS", "").startswith("kafka:"),
              "compose: %s uses the kafka service" % name)
        check("schema-registry:" in env.get("LOTLINE_SCHEMA_REGISTRY_URL",
                                            ""),
              "compose: %s uses the schema-registry service" % name)
        listen = env.get("LOTLINE_HTTP_LISTEN", "")
        check(listen.startswith("0.0.0.0:"),
              "compose: %s's API listens beyond the container's loopback"
              % name)
        url = env.get("LOTLINE_HTTP_ADVERTISE", "")
        check(url == "http://%s:%s" % (name, listen.split(":")[-1]),
              "compose: %s advertises its own service name and port (%s)"
              % (name, url))
        urls.add(url)
        token = str(env.get("LOTLINE_HTTP_TOKEN_WRITE", ""))
        check(re.match(r"^\$\{LOTLINE_HTTP_TOKEN_WRITE:\?.+\}$", token)
              is not None,
              "compose: %s takes the write token from the environment, "
              "required (%s)" % (name, token))
        check("/readyz" in " ".join(s.get("healthcheck", {})
                                    .get("test", [])),
              "compose: %s's healthcheck is /readyz" % name)
        ports.update(str(p) for p in s.get("ports", []))
    check(len(volumes) == INSTANCES and
          all(v in compose.get("volumes", {}) for v in volumes),
          "compose: every instance has a named volume of its own (%s)"
          % sorted(volumes))
    check(len(urls) == INSTANCES, "compose: distinct advertised URLs")
    check(len(ports) == INSTANCES, "compose: distinct host ports (%s)"
          % sorted(ports))
    init = " ".join(svcs.get("kafka-init", {}).get("command", []))
    for t in TOPICS:
        check("--topic %s " % t in init, "compose: kafka-init creates %s" % t)
    check(re.search(r"lots\.quantities[^\n]*cleanup\.policy=compact", init),
          "compose: lots.quantities is compacted")
    check(re.search(r"lots\.members[^\n]*cleanup\.policy=compact", init),
          "compose: lots.members is compacted")
    parts = dict(re.findall(r"--topic (lots\.\w+) --partitions (\d+)", init))
    check(parts.get("lots.inbound") == parts.get("lots.events") ==
          parts.get("lots.quantities"),
          "compose: lots.events and lots.quantities have the partitions of "
          "lots.inbound (%s)" % parts)

    dc = shutil.which("docker-compose")
    if dc:
        argv = [dc, "-f", os.path.join(DEPLOY, "docker-compose.yml"),
                "config", "-q"]
        base = {k: v for k, v in os.environ.items()
                if k != "LOTLINE_HTTP_TOKEN_WRITE"}
        r = subprocess.run(argv, capture_output=True, text=True,
                           env=dict(base, LOTLINE_HTTP_TOKEN_WRITE="t0ken"))
        check(r.returncode == 0, "docker-compose config accepts the file%s"
              % (": " + r.stderr.strip() if r.returncode else ""))
        r = subprocess.run(argv, capture_output=True, text=True, env=base)
        check(r.returncode != 0 and "LOTLINE_HTTP_TOKEN_WRITE" in r.stderr,
              "docker-compose refuses to run without the write token")
    else:
        print("docker-compose not installed: Compose schema check skipped")


# ---- Kubernetes ---------------------------------------------------------

def check_k8s(docs):
    k8s_dir = os.path.join(DEPLOY, "k8s")
    objs = {}
    for p, ds in docs.items():
        if os.path.dirname(p) != k8s_dir or p.endswith("kustomization.yaml"):
            continue
        for d in ds:
            check(all(k in d for k in ("apiVersion", "kind", "metadata")),
                  "k8s: %s has apiVersion, kind, metadata" % p)
            objs[(d["kind"], d["metadata"]["name"])] = d
    kust = docs.get(os.path.join(k8s_dir, "kustomization.yaml"), [{}])[0]
    listed = set(kust.get("resources", []))
    files = {os.path.basename(p) for p in docs if os.path.dirname(p) ==
             k8s_dir and not p.endswith("kustomization.yaml")}
    check(listed == files, "k8s: kustomization lists %s, files are %s"
          % (sorted(listed), sorted(files)))

    sts = [o for (k, _), o in objs.items() if k == "StatefulSet"]
    if not check(len(sts) == 1, "k8s: one StatefulSet"):
        return
    sts = sts[0]
    spec = sts["spec"]
    check(spec.get("replicas") == INSTANCES,
          "k8s: replicas %d (a cluster)" % INSTANCES)
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    check(spec["selector"]["matchLabels"].items() <= labels.items(),
          "k8s: the selector matches the pod labels")
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates",
                                                      [])]
    check(len(claims) == 1, "k8s: one PVC template (%s)" % claims)
    containers = {c["name"]: c for c in pod["containers"]}
    check(set(containers) == {"lotline"},
          "k8s: one container, lotline (%s)" % sorted(containers))
    project = containers.get("lotline", {})
    args = project.get("args", [])
    check(args[:1] == ["all"], "k8s: the container runs `lotlined all`")
    mounts = {m["name"]: m["mountPath"] for m in project.get("volumeMounts",
                                                              [])}
    data = args[args.index("--data") + 1] if "--data" in args else None
    check(claims and mounts.get(claims[0]) == data,
          "k8s: the container mounts the PVC where --data points (%s)" % data)
    conf = args[args.index("--config") + 1] if "--config" in args else None
    cvol = next((v for v in pod.get("volumes", []) if "configMap" in v),
                None)
    check(cvol is not None and conf is not None
          and conf == mounts.get(cvol["name"], "") + "/lotline.conf",
          "k8s: the container reads --config from the mounted ConfigMap")
    sc = project.get("securityContext", {})
    check(sc.get("allowPrivilegeEscalation") is False
          and sc.get("readOnlyRootFilesystem") is True,
          "k8s: the container is locked down")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True,
          "k8s: runs as non-root")
    env = {e["name"]: e for e in project.get("env", [])}
    check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {})
          .get("fieldPath") == "metadata.name",
          "k8s: POD_NAME from the downward API")
    check(env.get("LOTLINE_CLUSTER_INSTANCE_ID", {}).get("value")
          == "$(POD_NAME)", "k8s: the instance id is the pod's name")
    advertise = env.get("LOTLINE_HTTP_ADVERTISE", {}).get("value", "")
    check(advertise == "http://$(POD_NAME).%s:8080" % spec.get("serviceName"),
          "k8s: each pod advertises its name in the headless Service (%s)"
          % advertise)

    ports = {p.get("name"): p["containerPort"]
             for p in project.get("ports", [])}

    def probe_ok(kind, path):
        g = project.get(kind, {}).get("httpGet", {})
        return g.get("path") == path and (g.get("port") in ports
                                          or g.get("port") in
                                          ports.values())
    check(probe_ok("readinessProbe", "/readyz"),
          "k8s: readiness probe GET /readyz on a declared port")
    check(probe_ok("livenessProbe", "/healthz"),
          "k8s: liveness probe GET /healthz on a declared port")
    vol = next((v for v in pod.get("volumes", []) if "configMap" in v), {})
    cm = objs.get(("ConfigMap", vol.get("configMap", {}).get("name")))
    if check(cm is not None and "lotline.conf" in cm.get("data", {}),
             "k8s: the ConfigMap the pod mounts exists with lotline.conf"):
        conf = cm["data"]["lotline.conf"]
        m = re.search(r"^\s*http\.listen\s*=\s*(\S+):(\d+)\s*$", conf, re.M)
        check(m and int(m.group(2)) in ports.values(),
              "k8s: http.listen's port is the container port")
        check_config_with_lotlined(conf, "k8s ConfigMap lotline.conf")
        check_secure_start(conf, project)

    for (k, n), svc in objs.items():
        if k != "Service":
            continue
        check(svc["spec"]["selector"].items() <= labels.items(),
              "k8s: Service %s selects the pod" % n)
        for p in svc["spec"]["ports"]:
            check(p["targetPort"] in ports or p["targetPort"] in
                  ports.values(), "k8s: Service %s targets a container port"
                  % n)
    check(("Service", spec.get("serviceName")) in objs,
          "k8s: the StatefulSet's serviceName exists")


def check_config_with_lotlined(conf_text, what):
    """lotlined itself loads the file: `lotlined broker --config FILE`
    exits 2 on a bad key at once; with a good file it starts the embedded
    broker and prints its bootstrap list (then we stop it)."""
    tmp = tempfile.mkdtemp(prefix="lotline-deploy-")
    try:
        path = os.path.join(tmp, "lotline.conf")
        with open(path, "w") as f:
            f.write(conf_text)
        p = subprocess.Popen([os.path.join(BIN, "lotlined"), "broker",
                              "--config", path, "--data",
                              os.path.join(tmp, "data")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        line = p.stdout.readline().strip()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15)
        check(re.match(r"^[\w.:-]+:\d+", line) is not None,
              "%s: lotlined loads it (%s)" % (what, line or err.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_secure_start(conf_text, project):
    """The ConfigMap's http.listen is beyond loopback, so `lotlined all` needs
    a write token: it comes from a Secret, lotlined accepts the settings with
    it and refuses them (exit 2, naming the key) without."""
    env = {e["name"]: e for e in project.get("env", [])}
    ref = env.get("LOTLINE_HTTP_TOKEN_WRITE", {}).get("valueFrom", {}) \
        .get("secretKeyRef", {})
    check(ref.get("name") and ref.get("key"),
          "k8s: the pod's LOTLINE_HTTP_TOKEN_WRITE comes from a Secret (%s)"
          % ref)
    tmp = tempfile.mkdtemp(prefix="lotline-deploy-")
    try:
        path = os.path.join(tmp, "lotline.conf")
        with open(path, "w") as f:
            f.write(conf_text)
        argv = [os.path.join(BIN, "lotlined"), "all", "--config", path,
                "--data", os.path.join(tmp, "data"), "--print-config"]
        base = {k: v for k, v in os.environ.items()
                if k != "LOTLINE_HTTP_TOKEN_WRITE"}
        r = subprocess.run(argv, capture_output=True, text=True,
                           env=dict(base, LOTLINE_HTTP_TOKEN_WRITE="t0ken"))
        check(r.returncode == 0, "k8s: all starts with the token (%s)"
              % r.stderr.strip())
        r = subprocess.run(argv, capture_output=True, text=True, env=base)
        check(r.returncode == 2 and "http.token.write" in r.stderr,
              "k8s: all refuses the open API without it (exit %d: %s)"
              % (r.returncode, r.stderr.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- Dockerfile -----------------------------------------------------------

def apt_packages(run_text):
    """Package names of the `apt-get install` in a RUN instruction."""
    m = re.search(r"apt-get install([^&]*)", run_text)
    if not m:
        return set()
    return {w for w in m.group(1).replace("\\", " ").split()
            if not w.startswith("-")}


def stages(dockerfile):
    """[(FROM line, joined RUN text)] per stage."""
    text = re.sub(r"\\\n", " ", dockerfile)
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.upper().startswith("FROM "):
            out.append([s, ""])
        elif s.upper().startswith("RUN ") and out:
            out[-1][1] += " " + s[4:] + " &&"
    return out


def package_of(soname):
    """Debian package that ships a shared library, via ldconfig + dpkg."""
    r = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.strip().startswith(soname + " "):
            path = line.split("=>")[-1].strip()
            real = os.path.realpath(path)
            for cand in (path, real, real.replace("/usr/lib/", "/lib/")):
                q = subprocess.run(["dpkg", "-S", cand], capture_output=True,
                                   text=True)
                if q.returncode == 0:
                    return q.stdout.split(":")[0].strip()
    return None


def check_dockerfile():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = f.read()
    st = stages(text)
    if not check(len(st) >= 2, "Dockerfile: multi-stage (%d stages)"
                 % len(st)):
        return
    check(all("bookworm" in s[0] for s in st), "Dockerfile: Debian bookworm")
    build_pkgs, runtime_pkgs = apt_packages(st[0][1]), apt_packages(st[-1][1])
    with open(os.path.join(DEPLOY, "install-deps.sh")) as f:
        deps = set(re.search(r"packages=\(([^)]*)\)", f.read(),
                             re.S).group(1).split())
    check(build_pkgs and build_pkgs <= deps,
          "Dockerfile: build packages are in install-deps.sh (extra: %s)"
          % sorted(build_pkgs - deps))
    check("cmake --build" in st[0][1] and "cmake --install" in st[0][1],
          "Dockerfile: the build stage builds and installs with cmake")
    needed = set()
    for b in ("lotlined", "lotline"):
        r = subprocess.run(["readelf", "-d", os.path.join(BIN, b)],
                           capture_output=True, text=True, check=True)
        needed |= set(re.findall(r"Shared library: \[([^\]]+)\]", r.stdout))
    missing = []
    for so in sorted(needed):
        pkg = package_of(so)
        pkg_base = pkg.split(":")[0] if pkg else None
        if pkg_base in ("libc6", "libgcc-s1", "libstdc++6"):
            continue  # in every Debian base image
        if pkg_base not in runtime_pkgs:
            missing.append("%s (%s)" % (so, pkg_base))
    print("Dockerfile: runtime packages %s cover %s" % (
        sorted(runtime_pkgs), sorted(needed)))
    check(not missing, "Dockerfile: runtime stage lacks %s" % missing)
    entry = re.search(r"^ENTRYPOINT\s+(.*)$", text, re.M)
    check(entry and "lotlined" in entry.group(1),
          "Dockerfile: the entrypoint is lotlined")
    check(re.search(r"^USER\s+lotline", text, re.M),
          "Dockerfile: runs as the lotline user")
    ignore = os.path.join(DEPLOY, "Dockerfile.dockerignore")
    check(os.path.exists(ignore) and "build" in open(ignore).read(),
          "Dockerfile.dockerignore keeps build trees out of the context")


def main():
    global KEYS
    KEYS = known_keys()
    docs = load_yaml_files()
    compose = docs.get(os.path.join(DEPLOY, "docker-compose.yml"), [None])[0]
    if check(compose is not None, "deploy/docker-compose.yml exists"):
        check_compose(compose)
    check_k8s(docs)
    check_dockerfile()
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all deployment file checks passed")


if __name__ == "__main__":
    main()
