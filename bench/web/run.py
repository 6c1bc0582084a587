"""Benchmark: static websites from our daemon against nginx on the same machine.

Three businesses (``a.example``, ``b.example``, ``c.example``) publish the
same site - a 10 KB HTML page, a 2 KB stylesheet and a 200 KB image - with
``appliance site upload``; nginx serves the same files from disk with three
``server`` blocks. nginx runs in the foreground from the distribution's
binary with its own configuration and prefix in a temporary directory, on a
loopback port, access log off, sendfile on; it is stopped at the end.

wrk (50 connections, 2 threads) requests the nine (host, file) pairs in
turn, then each file alone; no Accept-Encoding, so both send the plain
bytes. Both servers run side by side and each scenario is measured on one
right after the other. Prints requests per second, average and p50/p99 latency for both and
the ratio ours / nginx, and the CPU time each server used (nginx: its master
and workers), as requests per CPU second: on a machine where other work
runs, how much CPU each server gets weighs on requests per second (two
nginx workers get more of a shared machine than one daemon), so the ratio
of requests per CPU second is printed beside it. The load average before
each run is printed first.

    .venv/bin/python -m bench.web.run [--seconds 10] [--connections 50] [--profile FILE]

``--profile FILE`` runs our daemon under cProfile and writes the statistics
to FILE when it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from appliance.settings import loopback_listen
from appliance.testing import Cli, Daemon, free_port
HOSTS = ("a.example", "b.example", "c.example")
FILES = ("/", "/style.css", "/img/photo.jpg")
CONFIG = f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"
{loopback_listen()}
[web]
# Every wrk connection comes from 127.0.0.1.
max_connections_per_source = 100000
"""

NGINX_CONF = """
daemon off;
master_process on;
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ text/html html; text/css css; image/jpeg jpg; }}
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{ listen 127.0.0.1:{port} default_server; return 404; }}
{servers}
}}
"""
SERVER = """    server {{
        listen 127.0.0.1:{port};
        server_name {host} www.{host};
        root {root};
        index index.html;
    }}
"""

#: wrk script: the (host, path) pairs in turn, per connection.
WRK_SCRIPT = """
local pairs = {{ {pairs} }}
local i = 0
request = function()
    i = i % #pairs + 1
    local p = pairs[i]
    return wrk.format("GET", p[2], {{ Host = p[1] }})
end
"""


def site_files() -> dict[str, bytes]:
    """The benchmark site: 10 KB of HTML, 2 KB of CSS, a 200 KB image."""
    paragraph = b"<p>Fresh bread, cakes and pastries baked every morning in our shop.</p>\n"
    html = b"<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\"><title>Bakery</title>\n"
    html += b"<link rel=\"stylesheet\" href=\"/style.css\"><h1>Bakery</h1>\n"
    html += paragraph * ((10_240 - len(html)) // len(paragraph))
    css = b"body { font-family: sans-serif; margin: 0 auto; max-width: 60em; }\n"
    css = (css * (2048 // len(css) + 1))[:2048]
    image = b"\xff\xd8\xff\xe0" + os.urandom(200 * 1024 - 4)  # incompressible, like a JPEG
    return {"index.html": html, "style.css": css, "img/photo.jpg": image}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, body in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def wait_up(port: int, host: str, expected: bytes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
            with urllib.request.urlopen(req, timeout=5) as reply:
                if reply.read() == expected:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing serving {host} on port {port} after {timeout}s")


def start_ours(tmp: Path, site: Path, files: dict[str, bytes], profile: str | None) -> tuple[Daemon, int]:
    state, config = tmp / "state", tmp / "appliance.toml"
    state.mkdir()
    config.write_text(CONFIG)
    cli = Cli(state, config)
    for host in HOSTS:
        slug = host.split(".")[0]
        cli("tenant", "add", slug, "--domain", host)
        cli("site", "upload", slug, str(site))
    daemon = Daemon(state, config, tmp / "daemon.log", prefix=["-m", "cProfile", "-o", profile] if profile else ())
    try:
        daemon.start()
    except AssertionError as e:
        raise SystemExit(f"our daemon did not start: {str(e)[-2000:]}")
    port = daemon.port("http")
    try:
        for host in HOSTS:
            wait_up(port, host, files["index.html"])
    except BaseException:
        daemon.stop()
        raise
    return daemon, port


def start_nginx(tmp: Path, site: Path, files: dict[str, bytes]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    servers = "".join(SERVER.format(port=port, host=h, root=site) for h in HOSTS)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, servers=servers))
    # Run as root, nginx's workers drop to "nobody": they must read the files.
    for path in (site.parent, tmp, *site.rglob("*"), site):
        path.chmod(0o755 if path.is_dir() else 0o644)
    proc = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "nginx-error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for host in HOSTS:
            wait_up(port, host, files["index.html"])
    except BaseException:
        stop(proc, signal.SIGQUIT)
        raise
    return proc, port


_LATENCY = re.compile(r"^\s+Latency\s+([\d.]+)(us|ms|s)", re.M)
_PERCENTILE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", re.M)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def cpu_ticks(pid: int) -> int:
    """User and system CPU time of ``pid`` and its children now, in clock ticks."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone since the listing
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total


def wrk(port: int, pairs: list[tuple[str, str]], seconds: int, connections: int, tmp: Path, pid: int) -> dict:
    """Run wrk over ``pairs`` (host, path); requests/s, latencies in ms and
    requests per CPU second of the server ``pid`` (and its children)."""
    before = cpu_ticks(pid)
    script = tmp / "pairs.lua"
    script.write_text(WRK_SCRIPT.format(pairs=", ".join(f'{{"{h}", "{p}"}}' for h, p in pairs)))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    cpu = (cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK")
    total = int(re.search(r"(\d+) requests in", out)[1])
    latency = _LATENCY.search(out)
    percentiles = {m[0]: float(m[1]) * _UNIT[m[2]] for m in _PERCENTILE.findall(out)}
    return {
        "requests_per_s": float(_RATE.search(out)[1]),
        "latency_avg_ms": round(float(latency[1]) * _UNIT[latency[2]], 3),
        "latency_p50_ms": round(percentiles["50"], 3),
        "latency_p99_ms": round(percentiles["99"], 3),
        "cpu_s": round(cpu, 2),
        "requests_per_cpu_s": round(total / cpu) if cpu else 0,
    }


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--profile", metavar="FILE", help="run our daemon under cProfile, statistics to FILE")
    args = parser.parse_args()
    files = site_files()
    scenarios = {"mixed": [(h, p) for p in FILES for h in HOSTS]}
    for path in FILES:
        scenarios[path] = [(h, path) for h in HOSTS]
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as name:
        tmp = Path(name)
        site = tmp / "site"
        write_tree(site, files)
        for server in ("nginx", "ours"):
            (tmp / server).mkdir()
        nginx, nginx_port = start_nginx(tmp / "nginx", site, files)
        try:
            ours, ours_port = start_ours(tmp / "ours", site, files, args.profile and os.path.abspath(args.profile))
            try:
                # Both run side by side and each scenario is measured on one
                # right after the other, so a change in the machine's load
                # weighs on both alike.
                print(f"load average before the run: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
                for scenario, pairs in scenarios.items():
                    for server, port, pid in (("nginx", nginx_port, nginx.pid), ("ours", ours_port, ours.pid)):
                        result = wrk(port, pairs, args.seconds, args.connections, tmp / server, pid)
                        report.setdefault(scenario, {})[server] = result
                        print(f"{server:5} {scenario:14} {json.dumps(result)}", flush=True)
            finally:
                ours.stop()
        finally:
            stop(nginx, signal.SIGQUIT)  # nginx's graceful shutdown
    print()
    print(f"{'scenario':14} {'nginx req/s':>12} {'ours req/s':>11} {'ratio':>6}  {'req/CPU-s nginx':>15} "
          f"{'ours':>6} {'ratio':>6}  latency p50/p99 ms (nginx | ours)")
    for scenario, both in report.items():
        n, o = both["nginx"], both["ours"]
        per_cpu = o["requests_per_cpu_s"] / n["requests_per_cpu_s"] if n["requests_per_cpu_s"] else 0
        print(f"{scenario:14} {n['requests_per_s']:12.0f} {o['requests_per_s']:11.0f} "
              f"{o['requests_per_s'] / n['requests_per_s']:6.2f}  {n['requests_per_cpu_s']:15} "
              f"{o['requests_per_cpu_s']:6} {per_cpu:6.2f}  "
              f"{n['latency_p50_ms']}/{n['latency_p99_ms']} | {o['latency_p50_ms']}/{o['latency_p99_ms']}")
    mixed = report["mixed"]
    print(f"\nratio (ours / nginx, requests per second, mixed site): "
          f"{mixed['ours']['requests_per_s'] / mixed['nginx']['requests_per_s']:.2f} (goal 0.5)")


if __name__ == "__main__":
    main()
