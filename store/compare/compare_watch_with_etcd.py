#!/usr/bin/env python3
"""Diff live watchers (one-shot and stream, recursive or not) between a real etcd 3.4 and the store.

Start a FRESH single-member etcd as for compare_with_etcd.py, then run:
  python3 store/compare/compare_watch_with_etcd.py [http://127.0.0.1:23790]
Watchers are opened on etcd (the answer headers arrive once the watcher is registered), the writes are
applied, and every event each watcher received is compared, in order, with what the store's watchers
received for the same writes (`WATCH` / `DRAIN` in the replay example).
"""
import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_with_etcd import etcd, same  # noqa: E402

WATCHERS = [
    ("key_stream", "/v2/keys/w/k?wait=true&stream=true"),
    ("key_once", "/v2/keys/w/k?wait=true"),
    ("dir_stream", "/v2/keys/w?wait=true&stream=true"),
    ("dir_recursive", "/v2/keys/w?wait=true&recursive=true&stream=true"),
    ("root_recursive", "/v2/keys/?wait=true&recursive=true&stream=true"),
    ("deep_child", "/v2/keys/w/sub/leaf?wait=true&stream=true"),
    ("deep_child_recursive", "/v2/keys/w/sub?wait=true&recursive=true&stream=true"),
    ("missing_child", "/v2/keys/w/sub/none?wait=true&stream=true"),
    ("hidden_dir", "/v2/keys/w/_h?wait=true&recursive=true&stream=true"),
    ("hidden_key", "/v2/keys/w/_h/x?wait=true&stream=true"),
    ("ttl_child", "/v2/keys/t/child?wait=true&stream=true"),
    ("sibling", "/v2/keys/wx?wait=true&recursive=true&stream=true"),
]

WRITES = [
    "PUT /v2/keys/w/k?value=1",
    "PUT /v2/keys/w/k?value=2",
    "PUT /v2/keys/w/_h/x?value=hidden",
    "PUT /v2/keys/w/sub/leaf?value=leaf",
    "PUT /v2/keys/w/k?refresh=true&prevExist=true&ttl=100",
    "PUT /v2/keys/w/k?prevValue=2&value=3",
    "PUT /v2/keys/wx/a?value=sibling",
    "DELETE /v2/keys/w/k",
    "PUT /v2/keys/t?dir=true&ttl=1",
    "PUT /v2/keys/t/child?value=c",
    "SLEEP 2.5 1",
    "DELETE /v2/keys/w?recursive=true",
]


def watch(base, target, lines):
    try:
        with urllib.request.urlopen(base + target, timeout=4) as resp:
            lines.append(None)  # registered
            while True:
                line = resp.readline()
                if not line:
                    return
                lines.append(line.decode().rstrip("\n"))
    except Exception:
        return


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:23790"
    received = {name: [] for name, _ in WATCHERS}
    threads = []
    for name, target in WATCHERS:
        thread = threading.Thread(target=watch, args=(base, target, received[name]), daemon=True)
        thread.start()
        threads.append(thread)
        while not received[name]:
            time.sleep(0.01)
    for write in WRITES:
        etcd(base, write)
    time.sleep(1)
    for thread in threads:
        thread.join(timeout=6)
    expected = [f"{name} {line}" for name, _ in WATCHERS for line in received[name] if line is not None]

    script = [f"WATCH {name} {target}" for name, target in WATCHERS] + WRITES + ["DRAIN"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    replay = subprocess.run(
        ["cargo", "run", "-q", "-p", "store", "--example", "replay"],
        input="\n".join(script) + "\n", capture_output=True, text=True, cwd=root, check=True,
    ).stdout.splitlines()
    got = [line for line in replay if line.split(" ", 1)[0] in received]

    mismatches = 0
    for index in range(max(len(expected), len(got))):
        want = expected[index] if index < len(expected) else "<none>"
        have = got[index] if index < len(got) else "<none>"
        if os.environ.get("VERBOSE"):
            print(f"  etcd:  {want}\n  store: {have}")
        if not same(want, have):
            mismatches += 1
            print(f"MISMATCH\n  etcd:  {want}\n  store: {have}")
    print(f"{len(WATCHERS)} watchers, {len(expected)} etcd events compared, {mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
