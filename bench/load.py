#!/usr/bin/env python3
"""Mixed-load test (run it through bench/load): on each database, a fresh registry from
`legami seed synthetic`, then wrk holds `--seconds` (default 60) of mixed traffic at
`--connections` (default 64, the benchmark's high level): reads of single labs, filtered lists,
the map, search and the dashboard summary (half anonymous, half with a token), and every tenth
request a create. It passes when no answer was a 5xx (or any other error), and when every
organisation answered 201 is in the database afterwards (zero lost writes; the only extra rows
allowed are creates still in flight when wrk stopped, at most one per connection).
Standard library only (it reuses bench.py's helpers).
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

LUA = r"""
local token = %(token)s
local reads = %(reads)s
local threads = {}
counter = 0
created = 0
names = {}
server_errors = 0
client_errors = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

request = function()
  counter = counter + 1
  if counter %% 10 == 0 then
    local body = string.format(
      '{"name":"Carico %%d-%%d","kind":"aps","address":{"municipality":"018110"},"status":"published"}',
      tid, counter)
    return wrk.format("POST", "/api/v1/organisations",
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
  end
  local path = reads[math.random(#reads)]
  if counter %% 2 == 0 then
    return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
  end
  return wrk.format("GET", path)
end

response = function(status, headers, body)
  if status == 201 then
    created = created + 1
    names[#names + 1] = string.match(body, '"name":"(Carico [0-9-]+)"') or "?"
  elseif status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  end
end

done = function(summary, latency, requests)
  local c, s, e = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    s = s + t:get("server_errors")
    e = e + t:get("client_errors")
  end
  local out = io.open(%(names_file)s, "w")
  for _, t in ipairs(threads) do
    for _, n in ipairs(t:get("names")) do
      out:write(n, "\n")
    end
  end
  out:close()
  io.write(string.format("LOAD created=%%d server_errors=%%d client_errors=%%d\n", c, s, e))
end
"""


# The labs whose pages the mixed traffic reads.
LAB_IDS = ("SELECT id FROM labs WHERE status = 'published' AND deleted_at IS NULL "
           "ORDER BY id LIMIT 200")


def mixed_reads(lab_ids):
    """The paths the mixed traffic reads: the labs of `lab_ids` and, ten times as often each,
    a filtered list, a search of organisations, a map box, a search, a summary, the feed."""
    return [f"/api/v1/labs/{i}" for i in lab_ids] + [
        "/api/v1/labs?municipality=015146&sort=name&limit=20",
        "/api/v1/organisations?q=solidale&limit=20",
        "/api/v1/map?types=lab&bbox=9.1,45.4,9.3,45.5",
        "/api/v1/search?q=laboratorio",
        "/api/v1/metrics/summary?group_by=indicator&kind=actual",
        "/api/v1/changes?limit=100",
    ] * 10


def run(kind, args, workdir):
    db = bench.Database(kind, args.scale, workdir)
    db.reset()
    env = bench.env_for(db, 0)
    subprocess.run([args.bin, "seed", "synthetic", "--scale", str(args.scale)], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([args.bin, "admin", "create", "--email", bench.ADMIN_EMAIL, "--password-stdin"],
                   input=bench.ADMIN_PASSWORD + "\n", text=True, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server = bench.Server(args.bin, db, workdir)
    try:
        token = bench.token(server)
        reads = mixed_reads([r[0] for r in db.query(LAB_IDS)])
        script = os.path.join(workdir, f"load-{kind}.lua")
        names_file = os.path.join(workdir, f"load-{kind}-created.txt")
        with open(script, "w") as f:
            f.write(LUA % {"token": json.dumps(token), "reads": lua_table(reads),
                           "names_file": json.dumps(names_file)})
        before = count(db)
        t0 = time.time()
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s",
             "--timeout", "30s", "-s", script, server.base],
            check=True, capture_output=True, text=True).stdout
        elapsed = time.time() - t0
    finally:
        server.stop()
    line = next(l for l in out.splitlines() if l.startswith("LOAD "))
    stats = dict(kv.split("=") for kv in line.split()[1:])
    created, server_errors, client_errors = (int(stats[k]) for k in
                                            ("created", "server_errors", "client_errors"))
    socket = [l.strip() for l in out.splitlines() if l.strip().startswith("Socket errors")]
    requests = next((int(l.split()[0]) for l in out.splitlines() if " requests in " in l), 0)
    stored = count(db) - before
    with open(names_file) as f:
        answered = {n.strip() for n in f if n.strip()}
    kept = {r[0] for r in db.query("SELECT name FROM organisations WHERE name LIKE 'Carico %'")}
    lost = len(answered - kept)
    return {
        "db": kind, "seconds": round(elapsed, 1), "connections": args.connections,
        "requests": requests, "created": created, "stored": stored, "lost": lost,
        "in_flight": stored - (created - lost),
        "server_errors": server_errors, "client_errors": client_errors,
        "socket_errors": socket[0] if socket else "none",
    }


def count(db):
    return int(db.query("SELECT COUNT(*) FROM organisations WHERE name LIKE 'Carico %'")[0][0])


def lua_table(items):
    return "{\n" + "".join(f"  {json.dumps(i)},\n" for i in items) + "}"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--scale", type=float, default=0.01)
    args = p.parse_args()
    workdir = os.path.join(bench.ROOT, "target", "bench")
    os.makedirs(workdir, exist_ok=True)
    results = [run(kind, args, workdir)
               for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db])]
    lines = ["| database | seconds | connections | requests | creates answered 201 | "
             "creates stored | answered but lost | stored, answer cut by the end | 5xx | "
             "other errors | socket errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['db']} | {r['seconds']} | {r['connections']} | {r['requests']:,} | "
                     f"{r['created']:,} | {r['stored']:,} | {r['lost']} | {r['in_flight']} | "
                     f"{r['server_errors']} | {r['client_errors']} | {r['socket_errors']} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(workdir, "load.md"), "w") as f:
        f.write(text)
    print(text)
    # A create still in flight when wrk stops is stored but its answer is never read: at most
    # one per connection. Every create answered 201 must be stored.
    bad = [r for r in results
           if r["server_errors"] or r["client_errors"] or r["lost"] or r["created"] == 0
           or not 0 <= r["in_flight"] <= r["connections"]
           or r["socket_errors"] != "none"]
    if bad:
        bench.log("load test failed: " + ", ".join(r["db"] for r in bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
