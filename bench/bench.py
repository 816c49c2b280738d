#!/usr/bin/env python3
"""Legami benchmark harness (run it through bench/run, which installs wrk and builds the server).

For each database: a fresh database seeded with `legami seed synthetic --scale N`, the server
started on a free port with rate limits off, then for S1-S6, S8 and S9 a warm-up and a measured wrk run at
each connection count, S7 a full CSV export, and the database's own rate for the SQL behind S1, S2
and S4. Results go to a markdown file with the machine, commit and date. Standard library only.
"""

import argparse
import datetime
import http.client as http_client
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_ADMIN = os.environ.get("LEGAMI_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
ADMIN_EMAIL = "bench@example.org"
ADMIN_PASSWORD = "benchmark-password-1"

TARGETS = {
    "S1": "cache off: ≥ 12,000 req/s at 64 conns, p99 ≤ 25 ms, ≥ 60 % of the DB; viewer within 20 %",
    "S2": "cache off: ≥ 3,000 req/s, ≥ 60 % of the DB",
    "S3": "cache off: ≥ 1,500 req/s",
    "S4": "cache off: ≥ 1,500 req/s, ≥ 60 % of the DB",
    "S5": "cache off: ≥ 2,000 req/s, p50 ≤ 20 ms",
    "S6": "≥ 50,000 rows/s",
    "S7": "peak RSS growth < 50 MB",
    "S8": "cache on: ≥ 8,000 req/s; RSS ≤ 100 MiB",
    "S9": "cache on: ≥ 4,000 req/s, p99 ≤ 50 ms, zero errors; RSS ≤ 100 MiB",
}


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as res:
        raw = res.read()
        return res.status, raw


def get_json(url, headers=None):
    status, raw = http("GET", url, headers=headers)
    return json.loads(raw)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's resident set every 20 ms; `peak` since the last `reset`."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def reset(self):
        self.peak = rss_kib(self.pid)


class Database:
    def __init__(self, kind, scale, workdir):
        self.kind = kind
        self.scale = scale
        tag = str(scale).replace(".", "_")
        if kind == "sqlite":
            self.path = os.path.join(workdir, f"legami-bench-{tag}.db")
            self.url = f"sqlite://{self.path}?mode=rwc"
        else:
            self.name = f"legami_bench_{tag}"
            self.url = f"{PG_ADMIN}/{self.name}"

    def reset(self):
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
        else:
            psql(PG_ADMIN + "/postgres", f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            psql(PG_ADMIN + "/postgres", f'CREATE DATABASE "{self.name}"')

    def query(self, sql):
        if self.kind == "sqlite":
            con = sqlite3.connect(self.path)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        out = subprocess.run(
            ["psql", self.url, "-At", "-F", "\t", "-c", sql],
            check=True, capture_output=True, text=True,
        ).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                   check=True, capture_output=True, text=True)


EXTRA_ENV = {}


def env_for(db, port):
    env = dict(os.environ)
    env.update(EXTRA_ENV)
    env.update({
        "LEGAMI_DATABASE_URL": db.url,
        "LEGAMI_BIND": f"127.0.0.1:{port}",
        "LEGAMI_RATE_LIMIT_ANONYMOUS": "0",
        "LEGAMI_RATE_LIMIT_AUTHENTICATED": "0",
        "LEGAMI_LOGIN_MAX_FAILURES": "0",
        "LEGAMI_SEED_DEMO_ON_EMPTY": "false",
        "LEGAMI_LOG": "warn",
        "LEGAMI_LOG_FORMAT": "json",
    })
    env.update(EXTRA_ENV)
    return env


class Server:
    def __init__(self, bin_path, db, logdir, extra=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(logdir, f"server-{db.kind}.log"), "ab")
        env = env_for(db, self.port)
        env.update(extra or {})
        self.proc = subprocess.Popen([bin_path, "serve"], env=env,
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if http("GET", self.base + "/health/ready", timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        else:
            raise SystemExit("server did not become ready")
        self.rss = RssSampler(self.proc.pid)

    def stop(self):
        self.rss.stop = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


WRK_LINE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$")


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, conns, seconds, script=None, threads=2):
    cmd = ["wrk", "-t", str(min(threads, conns)), "-c", str(conns), "-d", f"{seconds}s",
           "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = {"rps": 0.0, "p50": None, "p99": None, "errors": 0, "socket_errors": 0, "requests": 0}
    for line in out.splitlines():
        m = WRK_LINE.match(line)
        if m:
            result["p" + m.group(1)] = to_ms(m.group(2), m.group(3))
        elif line.startswith("Requests/sec:"):
            result["rps"] = float(line.split()[1])
        elif "Non-2xx or 3xx responses:" in line:
            result["errors"] += int(line.split(":")[1])
        elif line.strip().startswith("Socket errors:"):
            result["socket_errors"] += sum(int(x) for x in re.findall(r"(\d+)", line))
        elif re.match(r"^\s*\d+ requests in", line):
            result["requests"] = int(line.split()[0])
    return result


def lua_get_paths(paths, workdir, name, bearer=None):
    path = os.path.join(workdir, f"{name}.lua")
    with open(path, "w") as f:
        if bearer:
            f.write(f"wrk.headers['Authorization'] = 'Bearer {bearer}'\n")
        f.write("local paths = {\n")
        for p in paths:
            f.write(f"  {json.dumps(p)},\n")
        f.write("}\nmath.randomseed(42)\n")
        f.write("request = function()\n  return wrk.format('GET', paths[math.random(#paths)])\nend\n")
    return path


def lua_post(path_url, body, token, workdir):
    path = os.path.join(workdir, "s6.lua")
    with open(path, "w") as f:
        f.write(f"wrk.method = 'POST'\nwrk.path = {json.dumps(path_url)}\n")
        f.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
        f.write("wrk.headers['Content-Type'] = 'application/json'\n")
        f.write(f"wrk.headers['Authorization'] = 'Bearer {token}'\n")
    return path


MIX_LUA = r"""
-- S8 / S9: a partner site's traffic (generated by bench/bench.py).
local labs = {LABS}
local orgs = {ORGS}
local projects = {PROJECTS}
local lab_places = {LAB_PLACES}
local org_places = {ORG_PLACES}
local themes = {THEMES}
local words = {WORDS}
local points = {POINTS}
local sorts = {"name", "-name", "-updated_at", "created_at"}
local zooms = {0.003, 0.01, 0.03, 0.08, 0.2}
local viewer = VIEWER
local admin = ADMIN
local batch = BATCH
local anonymous = {}
local authenticated = viewer and {["Authorization"] = "Bearer " .. viewer} or nil
local writer = admin and {["Authorization"] = "Bearer " .. admin,
                          ["Content-Type"] = "application/json"} or nil
local nexts = {}
local n = 0

local function pick(t) return t[math.random(#t)] end

init = function(args)
  math.randomseed(tonumber(tostring({}):match("0x(%x+)") or "1", 16) % 2147483647)
end

-- 40 % records by id, 25 % list pages (half of them following a Link: rel="next"), 15 %
-- searches, 20 % map boxes.
local function read_path()
  local r = math.random()
  if r < 0.40 then
    local k = math.random()
    if k < 0.5 then return "/api/v1/labs/" .. pick(labs)
    elseif k < 0.8 then return "/api/v1/organisations/" .. pick(orgs)
    else return "/api/v1/projects/" .. pick(projects) end
  elseif r < 0.65 then
    if #nexts > 0 and math.random() < 0.5 then return table.remove(nexts, math.random(#nexts)) end
    if math.random() < 0.7 then
      local p = "/api/v1/labs?municipality=" .. pick(lab_places) .. "&sort=" .. pick(sorts) .. "&limit=20"
      if math.random() < 0.5 then p = p .. "&theme=" .. pick(themes) end
      return p
    end
    return "/api/v1/organisations?municipality=" .. pick(org_places) .. "&sort=" .. pick(sorts) .. "&limit=20"
  elseif r < 0.80 then
    return "/api/v1/search?q=" .. pick(words) .. "&limit=20"
  end
  local c = pick(points)
  local h = pick(zooms)
  return string.format("/api/v1/map?types=lab&bbox=%.4f,%.4f,%.4f,%.4f",
                       c[2] - h * 1.4, c[1] - h, c[2] + h * 1.4, c[1] + h)
end

-- S9 adds 25 % reads with a viewer's token and 5 % writes (3 % lab changes, 2 % metric batches).
request = function()
  if writer then
    local r = math.random()
    if r < 0.03 then
      n = n + 1
      local body = '{"description": "Aggiornato dal banco di prova, giro ' .. n .. '"}'
      return wrk.format("PATCH", "/api/v1/labs/" .. pick(labs), writer, body)
    elseif r < 0.05 then
      return wrk.format("POST", "/api/v1/projects/" .. pick(projects) .. "/metrics", writer, batch)
    elseif r < 0.30 then
      return wrk.format("GET", read_path(), authenticated)
    end
  end
  return wrk.format("GET", read_path(), anonymous)
end

response = function(status, headers, body)
  local link = headers["link"] or headers["Link"]
  if link and #nexts < 64 then
    local p = link:match("<([^>]*)>")
    if p then table.insert(nexts, p) end
  end
end
"""


def lua_list(values):
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def mix_inputs(db):
    """What S8 and S9 draw from: every published lab, organisation and project, the places and
    themes that have labs, words of the records' names, lab positions."""
    live = "status = 'published' AND deleted_at IS NULL"
    ids = {t: [r[0] for r in db.query(f"SELECT id FROM {t} WHERE {live} ORDER BY id")]
           for t in ("labs", "organisations", "projects")}
    names = [r[0] for r in db.query(f"SELECT name FROM labs WHERE {live}")]
    names += [r[0] for r in db.query(f"SELECT name FROM organisations WHERE {live}")]
    counts = {}
    for name in names:
        for w in re.findall(r"[^\W\d_]{5,}", name.lower()):
            counts[w] = counts.get(w, 0) + 1
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:300]]
    return {
        "labs": ids["labs"], "orgs": ids["organisations"], "projects": ids["projects"],
        "lab_places": [r[0] for r in db.query(
            f"SELECT DISTINCT municipality FROM labs WHERE {live} ORDER BY 1")],
        "org_places": [r[0] for r in db.query(
            f"SELECT DISTINCT municipality FROM organisations WHERE {live} ORDER BY 1")],
        "themes": [r[0] for r in db.query("SELECT code FROM themes ORDER BY code")],
        "words": words or ["solidale"],
        "points": [(float(r[0]), float(r[1])) for r in db.query(
            f"SELECT lat, lon FROM labs WHERE {live} ORDER BY id LIMIT 3000")],
    }


def lua_mix(mix, workdir, name, viewer=None, admin=None):
    """The wrk script of S8 (anonymous reads) or, with tokens, S9 (S8 plus authenticated reads
    and writes)."""
    batch = json.dumps(metric_batch(20))
    text = MIX_LUA
    for key, value in [
        ("{LABS}", lua_list(mix["labs"])), ("{ORGS}", lua_list(mix["orgs"])),
        ("{PROJECTS}", lua_list(mix["projects"])),
        ("{LAB_PLACES}", lua_list(mix["lab_places"])),
        ("{ORG_PLACES}", lua_list(mix["org_places"])),
        ("{THEMES}", lua_list(mix["themes"])), ("{WORDS}", lua_list(urllib.parse.quote(w) for w in mix["words"])),
        ("{POINTS}", "{" + ",".join(f"{{{a},{b}}}" for a, b in mix["points"]) + "}"),
        ("VIEWER", json.dumps(viewer) if viewer else "nil"),
        ("ADMIN", json.dumps(admin) if admin else "nil"),
        ("BATCH", json.dumps(batch, ensure_ascii=False)),
    ]:
        text = text.replace(key, value, 1)
    path = os.path.join(workdir, f"{name}.lua")
    with open(path, "w") as f:
        f.write(text)
    return path


def scenario_inputs(server, db):
    """Picks the ids, filters and box every scenario uses, from the seeded data."""
    api = server.base + "/api/v1"
    ids = [r[0] for r in db.query(
        "SELECT id FROM labs WHERE status = 'published' AND deleted_at IS NULL ORDER BY id LIMIT 2000")]
    milano = "015146"
    theme_rows = db.query(
        "SELECT t.theme_code, COUNT(*) FROM lab_themes t JOIN labs l ON l.id = t.lab_id "
        f"WHERE l.municipality = '{milano}' GROUP BY t.theme_code ORDER BY 2 DESC, 1 LIMIT 1")
    theme = theme_rows[0][0] if theme_rows else "mutual_help"
    # A box around Milan holding about 500 published labs (grown until it does).
    lat, lon, half = 45.4642, 9.19, 0.004
    target = 500 if db.scale >= 0.5 else max(20, int(500 * db.scale * 2))
    points = 0
    for _ in range(60):
        bbox = f"{lon - half * 1.4:.5f},{lat - half:.5f},{lon + half * 1.4:.5f},{lat + half:.5f}"
        fc = get_json(f"{api}/map?types=lab&bbox={bbox}")
        points = len(fc["features"])
        if points >= target:
            break
        half *= 1.25
    project = db.query(
        "SELECT id FROM projects WHERE status = 'published' AND deleted_at IS NULL ORDER BY id LIMIT 1")[0][0]
    return {
        "lab_ids": ids,
        "municipality": milano,
        "theme": theme,
        "bbox": bbox,
        "bbox_points": points,
        "word": "solidale",
        "project": project,
    }


def token(server, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    status, raw = http("POST", server.base + "/api/v1/auth/token", {
        "grant_type": "password", "email": email, "password": password})
    return json.loads(raw)["access_token"]


VIEWER_EMAIL = "bench-viewer@example.org"


def viewer_token(server):
    """A viewer's access token (the viewer is created by the admin on first use)."""
    admin = token(server)
    req = urllib.request.Request(
        server.base + "/api/v1/users", method="POST",
        data=json.dumps({"email": VIEWER_EMAIL, "password": ADMIN_PASSWORD, "name": "Bench viewer",
                         "role": "viewer", "organisation_ids": []}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin}"})
    try:
        urllib.request.urlopen(req, timeout=30).read()
    except urllib.error.HTTPError as e:
        if e.code != 409:  # already there from the other cache mode
            raise
    return token(server, VIEWER_EMAIL, ADMIN_PASSWORD)


def metric_batch(n=1000):
    rng = random.Random(6)
    inds = ["families_supported", "minors_involved", "volunteers", "citizens_reached"]
    rows = []
    for i in range(n):
        y, m = 2025, 1 + i % 12
        rows.append({"indicator": inds[i % len(inds)], "kind": "actual",
                     "value": rng.randint(1, 80), "period_start": f"{y}-{m:02}-01",
                     "period_end": f"{y}-{m:02}-28",
                     "dimensions": {"age_band": ["0-17", "18-64", "65+"][i % 3]},
                     "source": "bench"})
    return rows


def wanted(args, sid):
    return args.only is None or sid in args.only


def measure(server, url, conns, args, script=None):
    wrk(url, conns, args.warmup, script)
    server.rss.reset()
    r = wrk(url, conns, args.duration, script)
    r["rss_mib"] = server.rss.peak / 1024
    return r


def run_database(kind, args, workdir, results, baselines, meta):
    db = Database(kind, args.scale, workdir)
    db.reset()
    log(f"{kind}: seeding scale {args.scale}")
    env = env_for(db, 0)
    t0 = time.time()
    subprocess.run([args.bin, "seed", "synthetic", "--scale", str(args.scale)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    meta[f"seed_{kind}"] = time.time() - t0
    subprocess.run([args.bin, "admin", "create", "--email", ADMIN_EMAIL, "--password-stdin"],
                   input=ADMIN_PASSWORD + "\n", text=True, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    inp = None
    mix = None
    server = None
    try:
        for cache in args.cache_modes:
            extra = {"LEGAMI_RESPONSE_CACHE_MB": "0"} if cache == "off" else {}
            server = Server(args.bin, db, workdir, extra)
            if inp is None:
                inp = scenario_inputs(server, db)
                meta[f"inputs_{kind}"] = {k: v for k, v in inp.items() if k != "lab_ids"}
            api = server.base + "/api/v1"
            paths = [f"/api/v1/labs/{i}" for i in inp["lab_ids"]]
            s2 = f"{api}/labs?municipality={inp['municipality']}&theme={inp['theme']}&sort=name&limit=20"
            reads = [
                ("S1", "one lab by id", api + "/labs", lua_get_paths(paths, workdir, "s1")),
                ("S2", "labs of one municipality with one theme, by name, 20", s2, None),
                ("S3", "organisations matching a word, 20",
                 f"{api}/organisations?q={inp['word']}&limit=20", None),
                ("S4", f"labs in a map box ({inp['bbox_points']} points), GeoJSON",
                 f"{api}/map?types=lab&bbox={inp['bbox']}", None),
                ("S5", "sum of actual values by indicator over two years",
                 f"{api}/metrics/summary?group_by=indicator&kind=actual&from=2023-01-01&to=2024-12-31",
                 None),
            ]
            callers = [("anonymous", None)]
            if cache == "off":
                callers.append(("viewer", viewer_token(server)))
            reads = [r for r in reads if wanted(args, r[0])]
            for caller, bearer in callers:
                for sid, what, url, script in reads:
                    if bearer:
                        if sid not in ("S1", "S2"):
                            continue
                        # A token skips the cache anyway; each run gets its own script.
                        script = lua_get_paths(
                            paths if sid == "S1" else [url[len(server.base):]],
                            workdir, f"{sid.lower()}-viewer", bearer)
                    for conns in args.connections:
                        log(f"{kind}: {sid} cache {cache}, {caller}, at {conns} connections")
                        r = measure(server, url, conns, args, script)
                        results.append({"db": kind, "id": sid, "what": what, "conns": conns,
                                        "cache": cache, "caller": caller, **r})
            # S8 and S9: a partner site's mix over the whole registry (distinct URLs), then the
            # same with authenticated readers and writers in it.
            if mix is None and (wanted(args, "S8") or wanted(args, "S9")):
                mix = mix_inputs(db)
            mixes = [] if mix is None else [("S8", "partner-site mix: records, list pages and their next pages, "
                      "searches, map boxes (anonymous)", lua_mix(mix, workdir, "s8")),
                     ("S9", "S8 with 25 % viewer reads and 5 % writes (lab changes, "
                      "20-row metric batches)",
                      lua_mix(mix, workdir, "s9", viewer_token(server), token(server)))]
            for sid, what, script in [m for m in mixes if wanted(args, m[0])]:
                for conns in args.connections:
                    log(f"{kind}: {sid} cache {cache} at {conns} connections")
                    r = measure(server, server.base + "/", conns, args, script)
                    results.append({"db": kind, "id": sid, "what": what, "conns": conns,
                                    "cache": cache, "caller": "mixed" if sid == "S9" else "anonymous",
                                    **r})
            if cache != args.cache_modes[-1]:
                server.stop()
                server = None
        api = server.base + "/api/v1"
        # S6: metric ingestion, 1,000 rows per batch.
        body = metric_batch()
        for conns in args.connections if wanted(args, "S6") else []:
            log(f"{kind}: S6 at {conns} connections")
            script = lua_post(f"/api/v1/projects/{inp['project']}/metrics", body, token(server), workdir)
            r = measure(server, server.base + "/", conns, args, script)
            r["rows_per_s"] = r["rps"] * len(body)
            results.append({"db": kind, "id": "S6", "what": "metric ingestion, 1,000-row batches",
                            "conns": conns, "cache": "–", "caller": "admin", **r})
        # S7: the whole metrics table as CSV, streamed.
        if not wanted(args, "S7"):
            baselines.extend(db_baselines(db, inp, args, workdir))
            return
        log(f"{kind}: S7 full CSV export")
        # Let batches still queued from S6 finish before the export needs a connection.
        time.sleep(15)
        base_rss = rss_kib(server.proc.pid)
        server.rss.reset()
        t0 = time.time()
        size = 0
        interrupted = 0
        try:
            with urllib.request.urlopen(f"{api}/metrics?format=csv", timeout=3600) as res:
                while True:
                    chunk = res.read(1 << 20)
                    if not chunk:
                        break
                    size += len(chunk)
        except (OSError, http_client.HTTPException) as e:
            log(f"{kind}: S7 export interrupted: {e}")
            interrupted = 1
        elapsed = time.time() - t0
        results.append({"db": kind, "id": "S7", "what": "full CSV export of the metrics",
                        "conns": 1, "cache": "–", "caller": "anonymous", "rps": None, "p50": elapsed * 1000, "p99": None,
                        "errors": interrupted,
                        "rss_mib": server.rss.peak / 1024,
                        "rss_growth_mib": max(0, server.rss.peak - base_rss) / 1024,
                        "bytes": size, "seconds": elapsed})
        meta[f"idle_rss_{kind}"] = base_rss / 1024
        baselines.extend(db_baselines(db, inp, args, workdir))
    finally:
        if server:
            server.stop()


# The SQL behind S1, S2 and S4, as the server issues it. S1: the one statement of an uncached
# answer (the lab as an anonymous caller may see it, with its themes and operators aggregated in
# it), so one unit of the database's rate is one whole answer. S2 and S4: the main statement (S4:
# the points with their themes, as the map reads them from its covering index).
def baseline_sql(inp, kind):
    b = [float(x) for x in inp["bbox"].split(",")]
    def link(table, cols, order):
        owned = f'{table}.lab_id = "labs"."id"'
        if kind == "postgres":
            return (f"(SELECT CAST(COALESCE(json_agg(json_build_array({cols}) ORDER BY {order}), "
                    f"'[]') AS TEXT) FROM {table} WHERE {owned})")
        # The server writes `json_group_array(... ORDER BY ...)` (SQLite 3.44+); Python's sqlite3
        # may be older, so the same rows are aggregated from an ordered subquery.
        return (f"(SELECT json_group_array(json_array({cols})) FROM (SELECT {cols} FROM {table} "
                f"WHERE {owned} ORDER BY {order}))")
    return {
        "S1": [
            f"SELECT labs.*, {link('lab_themes', 'theme_code', 'theme_code')} AS link_0, "
            f"{link('lab_operators', 'organisation_id, role', 'role')} AS link_1 FROM labs "
            "WHERE id = {id} AND status = 'published' AND deleted_at IS NULL",
        ],
        "S2": [("SELECT * FROM labs WHERE deleted_at IS NULL AND status = 'published' "
                f"AND municipality = '{inp['municipality']}' AND id IN (SELECT lab_id FROM lab_themes "
                f"WHERE theme_code = '{inp['theme']}') ORDER BY name, id LIMIT 21")],
        "S4": [("SELECT id, slug, name, kind, lat, lon, theme_codes FROM labs WHERE deleted_at IS NULL "
                "AND status = 'published' AND lat IS NOT NULL AND lon IS NOT NULL "
                f"AND lat BETWEEN {b[1]} AND {b[3]} AND lon BETWEEN {b[0]} AND {b[2]} "
                "ORDER BY id LIMIT 5000")],
    }


def sqlite_worker(path, sqls, ids, seconds, out):
    """Runs the statements of one unit (with one random lab id) in a loop; puts the units done."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    rng = random.Random(os.getpid())
    n = 0
    end = time.time() + seconds
    stmts = [(sql.replace("{id}", "?"), "{id}" in sql) for sql in sqls]
    while time.time() < end:
        for _ in range(50):
            lab = (rng.choice(ids),)
            for stmt, param in stmts:
                if param:
                    con.execute(stmt, lab).fetchall()
                else:
                    con.execute(stmt).fetchall()
        n += 50
    out.put(n)


def db_baselines(db, inp, args, workdir):
    sqls = baseline_sql(inp, db.kind)
    ids = inp["lab_ids"]
    out = []
    if db.kind == "postgres":
        psql(db.url, "DROP TABLE IF EXISTS bench_lab_ids")
        psql(db.url, "CREATE TABLE bench_lab_ids (n INTEGER PRIMARY KEY, id VARCHAR(36) NOT NULL)")
        values = ",".join(f"({i + 1}, '{v}')" for i, v in enumerate(ids))
        psql(db.url, f"INSERT INTO bench_lab_ids VALUES {values}")
    for sid, unit in sqls.items():
        if not wanted(args, sid):
            continue
        what = f"{len(unit)} statements per unit" if len(unit) > 1 else "1 statement"
        if db.kind == "postgres":
            script = os.path.join(workdir, f"pgbench-{sid}.sql")
            with open(script, "w") as f:
                if any("{id}" in sql for sql in unit):
                    f.write(f"\\set n random(1, {len(ids)})\n")
                for sql in unit:
                    sql = sql.replace("{id}", "(SELECT id FROM bench_lab_ids WHERE n = :n)")
                    f.write(sql + ";\n")
            best = 0.0
            # pgbench's sessions plan as the server's do: the same random_page_cost (the server
            # sets it on each of its connections, LEGAMI_PG_RANDOM_PAGE_COST, 1.1 unless given).
            cost = env_for(db, 0).get("LEGAMI_PG_RANDOM_PAGE_COST", "1.1").strip()
            penv = dict(os.environ)
            if cost:
                penv["PGOPTIONS"] = f"-c random_page_cost={cost}"
            for conns in args.connections:
                res = subprocess.run(
                    ["pgbench", "-n", "-M", "prepared", "-c", str(conns), "-j", "2",
                     "-T", str(args.duration), "-f", script, db.url],
                    check=True, capture_output=True, text=True, env=penv).stdout
                m = re.search(r"tps = ([\d.]+)", res)
                best = max(best, float(m.group(1)) if m else 0.0)
            out.append({"db": db.kind, "id": sid, "qps": best,
                        "how": f"pgbench -M prepared, 16/64 clients, 2 threads (best), random_page_cost {cost or 'of the database'}; {what}"})
        else:
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=sqlite_worker,
                                             args=(db.path, unit, ids, args.duration, q))
                     for _ in range(os.cpu_count() or 2)]
            for p in procs:
                p.start()
            total = sum(q.get() for _ in procs)
            for p in procs:
                p.join()
            out.append({"db": db.kind, "id": sid, "qps": total / args.duration,
                        "how": f"in-process SQLite loop (Python sqlite3), {len(procs)} processes; {what}"})
    return out


def fmt(v, pattern="{:,.0f}"):
    return "–" if v is None else pattern.format(v)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // (1024 * 1024)
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, {platform.system()} {platform.release()}"


def commit():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(args, results, baselines, meta):
    lines = [
        f"# Benchmark results ({'quick mode' if args.quick else f'scale {args.scale}'})",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {meta.get('commit') or commit()}",
        f"- machine: {machine()}",
        f"- command: `bench/run {' '.join(args.raw)}`".replace("bench/run ", "bench/run ").rstrip(),
        f"- build: {args.bin}",
        f"- load: wrk, {args.warmup} s warm-up then {args.duration} s measured per row, 2 threads",
    ]
    for kind in args.dbs:
        if f"seed_{kind}" in meta:
            lines.append(f"- {kind}: seeded in {meta[f'seed_{kind}']:.1f} s; idle server RSS "
                         f"{meta.get(f'idle_rss_{kind}', 0):.0f} MiB; inputs "
                         f"`{json.dumps(meta.get(f'inputs_{kind}', {}), ensure_ascii=False)}`")
    lines += ["", "Reads run twice, on a server with the response cache on (what repeated anonymous "
              "URLs get) and on one with it off (`LEGAMI_RESPONSE_CACHE_MB=0`: what every first "
              "visit, every read after a write and every authenticated caller gets); S1 and S2 a "
              "third time with a viewer's token. S8 and S9 draw every request afresh over the whole "
              "registry (ids, places, themes, sorts, next pages, words, map positions and zooms), "
              "so their URLs are mostly distinct.", "",
              "| scenario | db | cache | caller | conns | req/s | p50 ms | p99 ms | non-2xx / socket errors | server peak RSS MiB | target |",
              "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        rate = fmt(r["rps"])
        if r["id"] == "S6":
            rate = f"{fmt(r['rps'])} ({fmt(r['rows_per_s'])} rows/s)"
        if r["id"] == "S7":
            rate = (f"{r['bytes'] / 1e6:,.0f} MB in {r['seconds']:.1f} s; RSS growth "
                    f"{r['rss_growth_mib']:.1f} MiB")
        lines.append(
            f"| {r['id']} {r['what']} | {r['db']} | {r.get('cache', '–')} | {r.get('caller', 'anonymous')} | {r['conns']} | {rate} | {fmt(r['p50'], '{:.2f}')} | "
            f"{fmt(r['p99'], '{:.2f}')} | {r['errors']} / {r.get('socket_errors', 0)} | {r['rss_mib']:.0f} | {TARGETS[r['id']]} |")
    lines += ["", "The database's own rate for the SQL behind S1, S2 and S4, and our share of it "
              "(our best anonymous req/s with the cache off, over the connection counts). A unit "
              "is the one statement of an S1 answer (the lab with its themes and operators "
              "aggregated), or the main statement of S2 and S4:", "",
              "| scenario | db | database units/s | how | ours req/s | ours / database |",
              "|---|---|---:|---|---:|---:|"]
    for b in baselines:
        ours = max((r["rps"] for r in results if r["db"] == b["db"] and r["id"] == b["id"]
                    and r.get("caller") == "anonymous"
                    and r.get("cache") == ("off" if "off" in args.cache_modes else "on")),
                   default=0)
        share = f"{100 * ours / b['qps']:.0f} %" if b["qps"] else "–"
        lines.append(f"| {b['id']} | {b['db']} | {fmt(b['qps'])} | {b['how']} | {fmt(ours)} | {share} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True, help="the legami binary (bench/run passes it)")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--duration", type=int, default=15, help="seconds measured per run")
    p.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per run")
    p.add_argument("--connections", default="16,64")
    p.add_argument("--out", default=None, help="markdown file (default docs/benchmarks-results.md)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra server setting, e.g. LEGAMI_RESPONSE_CACHE_MB=0 (repeatable)")
    p.add_argument("--cache", choices=["both", "on", "off"], default="both",
                   help="run the reads with the response cache on, off, or both (default)")
    p.add_argument("--only", default=None, metavar="S1,S8,...",
                   help="run only these scenarios (default: all; S1, S2 and S4 bring their baseline)")
    p.add_argument("--quick", action="store_true",
                   help="scale 0.01, 2 s per run, 1 s warm-up (CI: keeps the harness working)")
    raw = sys.argv[1:]
    args = p.parse_args()
    args.raw = [a for i, a in enumerate(raw) if a != "--bin" and (i == 0 or raw[i - 1] != "--bin")]
    if args.quick:
        args.scale, args.duration, args.warmup = 0.01, 2, 1
    args.connections = [int(c) for c in args.connections.split(",")]
    args.only = set(args.only.upper().split(",")) if args.only else None
    for kv in args.server_env:
        k, _, v = kv.partition("=")
        EXTRA_ENV[k] = v
    args.dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    args.cache_modes = ["on", "off"] if args.cache == "both" else [args.cache]
    out = args.out or os.path.join(
        ROOT, "target/bench/quick.md" if args.quick else "docs/benchmarks-results.md")
    workdir = os.path.join(ROOT, "target", "bench")
    os.makedirs(workdir, exist_ok=True)
    # The tree as it is before this run writes its own results file.
    results, baselines, meta = [], [], {"commit": commit()}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    for kind in args.dbs:
        run_database(kind, args, workdir, results, baselines, meta)
        # Written after each database, so a long run keeps what it measured.
        text = report(args, results, baselines, meta)
        with open(out, "w") as f:
            f.write(text)
    print(text)
    log(f"written to {out}")
    # The harness must keep working: an error answer in any scenario fails the run (timings and
    # client-side timeouts never do).
    # Writes under overload may be refused with 503 (pool or lock timeout): reported, not fatal.
    # S9's writes, like S6's, may be refused under overload: reported against its target.
    failed = [r for r in results if r["errors"] and r["id"] not in ("S6", "S7", "S9")]
    if failed:
        log(f"{len(failed)} runs had errors: " + ", ".join(f"{r['db']} {r['id']}@{r['conns']}"
                                                          for r in failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
