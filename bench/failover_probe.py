"""Probe used by failover.sh: it signals the leader itself (so that interpreter start-up is not counted),
then one
watcher thread per survivor polls GET /v2/members/leader until it names a leader other than the old
one, and one writer thread per survivor retries PUT with a 0.25 s timeout until one succeeds.
Prints "<ms until new leader known> <ms until a write succeeded>" ("-" for never), measured from the
moment of the signal.

Usage: failover_probe.py LEADER_PID SIGNAL(KILL|TERM) OLD_LEADER_ID GIVE_UP_SECONDS PORT [PORT...]"""

import http.client
import json
import os
import signal
import sys
import threading
import time

leader_pid = int(sys.argv[1])
signal_number = getattr(signal, "SIG" + sys.argv[2])
old_id = sys.argv[3]
give_up = float(sys.argv[4])
ports = [int(p) for p in sys.argv[5:]]
first = {"leader": None, "write": None}
lock = threading.Lock()


def record(what):
    now = time.time()
    with lock:
        if first[what] is None or now < first[what]:
            first[what] = now


def request(port, method, path, body=None):
    """One request on a fresh connection (a dead peer must not leave us stuck on a stale socket)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.25)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def watch(port):
    while time.time() < deadline and first["leader"] is None:
        try:
            status, data = request(port, "GET", "/v2/members/leader")
            if status == 200:
                leader = json.loads(data).get("id", "")
                if leader and leader != old_id:
                    record("leader")
                    return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.005)


def write(port):
    n = 0
    while time.time() < deadline and first["write"] is None:
        n += 1
        try:
            status, _ = request(port, "PUT", f"/v2/keys/failover/w{port}-{n}", "value=x")
            if status in (200, 201):
                record("write")
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.005)  # refused at once: do not spin


t0 = time.time()
os.kill(leader_pid, signal_number)
deadline = t0 + give_up
threads = [threading.Thread(target=f, args=(p,)) for p in ports for f in (watch, write)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()


def ms(t):
    return "-" if t is None else str(round((t - t0) * 1000))


print(ms(first["leader"]), ms(first["write"]))
