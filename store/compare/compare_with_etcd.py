#!/usr/bin/env python3
"""Diff the store against a real etcd 3.4 (v2 API), byte for byte.

Start a FRESH single-member etcd first (its first user write gets index 4), e.g.:
  etcd --enable-v2=true --data-dir /tmp/etcd-cmp --listen-client-urls http://127.0.0.1:23790 \
       --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800
then run:  python3 store/compare/compare_with_etcd.py [http://127.0.0.1:23790]
It sends every request in REQUESTS to etcd and to `cargo run -p store --example replay`, and compares
status, X-Etcd-Index and body (expiration timestamps are masked: the clocks differ).
"""
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

REQUESTS = [
    # set, get, replace
    "PUT /v2/keys/message?value=Hello%20world",
    "GET /v2/keys/message",
    "PUT /v2/keys/message?value=again",
    # not found: first missing component
    "GET /v2/keys/nonexist/a/b",
    # implicit dirs, listings
    "PUT /v2/keys/dir/sub/leaf?value=x",
    "PUT /v2/keys/dir/b?value=y",
    "GET /v2/keys/dir?sorted=true",
    "GET /v2/keys/dir?recursive=true&sorted=true",
    "GET /v2/keys/dir/sub",
    # not a directory
    "PUT /v2/keys/dir/b/c?value=z",
    "GET /v2/keys/dir/b/c/d",
    "POST /v2/keys/dir/b?value=q",
    # directories
    "PUT /v2/keys/emptydir?dir=true",
    "GET /v2/keys/emptydir",
    "PUT /v2/keys/emptydir?dir=true",
    "PUT /v2/keys/emptydir?value=v",
    "PUT /v2/keys/file1?value=v",
    "PUT /v2/keys/file1?dir=true",
    "DELETE /v2/keys/dir",
    "DELETE /v2/keys/dir?dir=true",
    "DELETE /v2/keys/emptydir?dir=true",
    "PUT /v2/keys/file2?value=v",
    "DELETE /v2/keys/file2?dir=true",
    # create / update
    "PUT /v2/keys/c1?prevExist=false&value=1",
    "PUT /v2/keys/c1?prevExist=false&value=2",
    "PUT /v2/keys/c1?prevExist=false&prevValue=1&value=3",
    "PUT /v2/keys/c1?prevExist=true&value=4",
    "PUT /v2/keys/nokey?prevExist=true&value=4",
    "PUT /v2/keys/c1?prevExist=0&value=5",
    # compare and swap
    "PUT /v2/keys/foo?value=one",
    "PUT /v2/keys/foo?prevValue=two&value=three",
    "PUT /v2/keys/foo?prevIndex=1&value=three",
    "PUT /v2/keys/foo?prevValue=zzz&prevIndex=10&value=three",
    "PUT /v2/keys/foo?prevValue=one&value=three",
    "PUT /v2/keys/foo?prevExist=true&prevValue=three&value=four",
    "PUT /v2/keys/foo?prevIndex=0&value=five",
    "PUT /v2/keys/dir/sub?prevValue=a&value=b",
    "PUT /v2/keys/missing?prevValue=a&value=b",
    # compare and delete
    "PUT /v2/keys/color?value=red",
    "DELETE /v2/keys/color?prevValue=grey",
    "DELETE /v2/keys/color?prevIndex=1",
    "DELETE /v2/keys/color?prevValue=red",
    "DELETE /v2/keys/dir?prevValue=x",
    # root
    "PUT /v2/keys/?value=x",
    "DELETE /v2/keys/?recursive=true",
    "PUT /v2/keys/?prevValue=a&value=b",
    "PUT /v2/keys/?prevExist=true&value=b",
    # in-order keys
    "POST /v2/keys/queue?value=FirstValue",
    "POST /v2/keys/queue?value=SecondValue",
    "GET /v2/keys/queue?sorted=true",
    "POST /v2/keys/queue?dir=true",
    # hidden
    "PUT /v2/keys/_secret?dir=true",
    "PUT /v2/keys/_secret/Conf?value=yes",
    "PUT /v2/keys/vis/_h?value=1",
    "GET /v2/keys/_secret/Conf",
    "GET /v2/keys/vis",
    "DELETE /v2/keys/vis?dir=true",
    # TTL
    "PUT /v2/keys/t1?value=v&ttl=100",
    "GET /v2/keys/t1",
    "PUT /v2/keys/t1?value=w&prevExist=true",
    "PUT /v2/keys/t1?value=w&prevExist=true&ttl=50",
    "PUT /v2/keys/t1?value=x&prevExist=true&ttl=",
    "PUT /v2/keys/t2?value=v&ttl=99999999999",
    "PUT /v2/keys/tdir?dir=true&ttl=100",
    "PUT /v2/keys/tdir?dir=true&prevExist=true&ttl=200",
    "GET /v2/keys/tdir",
    "PUT /v2/keys/tdir?prevExist=true&value=v",
    # refresh
    "PUT /v2/keys/r1?value=v&ttl=100",
    "PUT /v2/keys/r1?refresh=true&prevExist=true&ttl=300",
    "PUT /v2/keys/r1?refresh=true&ttl=400",
    "PUT /v2/keys/r1?refresh=true&prevValue=v&ttl=500",
    "PUT /v2/keys/nothere?refresh=true&ttl=5",
    "PUT /v2/keys/r1?refresh=true&ttl=5&value=v",
    "PUT /v2/keys/r1?refresh=true&prevExist=true",
    # noValueOnSuccess
    "PUT /v2/keys/nv?value=v&noValueOnSuccess=true",
    "PUT /v2/keys/nv?value=w&prevExist=true&noValueOnSuccess=true",
    "DELETE /v2/keys/nv?noValueOnSuccess=true",
    # escaping
    "PUT /v2/keys/esc?value=a%3Cb%3E%26c%08%0C%01%E2%80%A8%C3%A9%22%5C",
    # watches answered from the history
    "GET /v2/keys/foo?wait=true&waitIndex=1",
    "GET /v2/keys/foo?wait=true&waitIndex=17",
    "GET /v2/keys/foo?wait=true&waitIndex=19&stream=true",
    "GET /v2/keys/queue?wait=true&recursive=true&waitIndex=20",
    "GET /v2/keys/queue?wait=true&waitIndex=20",
    "GET /v2/keys/dir/sub/leaf?wait=true&waitIndex=5",
    "GET /v2/keys/?wait=true&recursive=true&waitIndex=25",
    "GET /v2/keys/r1?wait=true&waitIndex=36",
    "GET /v2/keys/r1?wait=true&waitIndex=35",
    "GET /v2/keys/vis?wait=true&recursive=true&waitIndex=27",
    "GET /v2/keys/foo?wait=true&waitIndex=100000",
    # expiry: etcd's leader expires keys every 500 ms; the replay applies one sync at the expiry time
    "PUT /v2/keys/exp1?value=v&ttl=1",
    "PUT /v2/keys/expdir?dir=true&ttl=1",
    "PUT /v2/keys/expdir/child?value=c",
    "SLEEP 2.5 1",
    "GET /v2/keys/exp1",
    "GET /v2/keys/expdir/child",
    "GET /v2/keys/exp1?wait=true&waitIndex=44",
    "GET /v2/keys/expdir/child?wait=true&waitIndex=46",
    "GET /v2/keys/expdir?wait=true&waitIndex=45",
    # more corners
    "POST /v2/keys/?value=atroot",
    "POST /v2/keys/_q?value=hiddenqueue",
    "GET /v2/keys/_q?sorted=true",
    "PUT /v2/keys/f3?value=v",
    "DELETE /v2/keys/f3?recursive=true",
    "PUT /v2/keys/f4?value=v&ttl=30",
    "PUT /v2/keys/f4?value=w",
    "DELETE /v2/keys/f4?prevIndex=1",
    "DELETE /v2/keys/f4?prevValue=w&prevIndex=1",
    "PUT /v2/keys/f5?value=1",
    "PUT /v2/keys/f5?prevValue=1&prevExist=false&value=2",
    "PUT /v2/keys/deep/a/b/c/d/e?value=deep",
    "GET /v2/keys/deep?recursive=true",
    "PUT /v2/keys/deep/a/b?value=x",
    "DELETE /v2/keys/deep/a/b/c/d/e/f",
    "PUT /v2/keys/sp%20ace/%C3%BCnicode?value=%E2%9C%93",
    "GET /v2/keys/sp%20ace?recursive=true",
    "PUT /v2/keys/emptyval?value=",
    "GET /v2/keys/emptyval",
    "PUT /v2/keys/emptyval?prevValue=&value=x",
    # recursive delete and a later listing
    "DELETE /v2/keys/dir?recursive=true",
    "GET /v2/keys/dir/sub/leaf?wait=true&waitIndex=7",
    "GET /v2/keys/dirx?wait=true&waitIndex=7",
    "GET /v2/keys/?recursive=true&sorted=true",
]


def etcd(base, request):
    method, target = request.split(" ", 1)
    if method == "SLEEP":
        time.sleep(float(target.split()[0]))
        return "SLEPT"
    req = urllib.request.Request(base + target, method=method, data=b"" if method in ("PUT", "POST") else None)
    if method in ("PUT", "POST"):
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=0.7) as resp:
            # A stream answer never ends: take its first line.
            body = resp.readline() if "stream=true" in target else resp.read()
            return f"{resp.status} {resp.headers.get('X-Etcd-Index')} {body.decode().rstrip(chr(10))}"
    except urllib.error.HTTPError as error:
        return f"{error.code} {error.headers.get('X-Etcd-Index')} {error.read().decode().rstrip(chr(10))}"
    except Exception:  # a watch that waits: no event within the timeout
        return "WAITING"


def mask(line):
    return re.sub(r'"expiration":"[^"]*"', '"expiration":"E"', line)


def same(want, got):
    """Equal once expirations are masked; remaining-TTL figures may differ by the seconds etcd's clock
    moved on while the requests ran."""
    ttl = re.compile(r'"ttl":(-?\d+)')
    if ttl.sub('"ttl":T', mask(want)) != ttl.sub('"ttl":T', mask(got)):
        return False
    pairs = zip(ttl.findall(want), ttl.findall(got))
    return all(0 <= int(g) - int(w) <= 15 for w, g in pairs)


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:23790"
    expected = [etcd(base, request) for request in REQUESTS]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    replay = subprocess.run(
        ["cargo", "run", "-q", "-p", "store", "--example", "replay"],
        input="\n".join(REQUESTS) + "\n", capture_output=True, text=True, cwd=root, check=True,
    ).stdout.splitlines()
    mismatches = 0
    for request, want, got in zip(REQUESTS, expected, replay):
        if os.environ.get("VERBOSE"):
            print(f"{request}\n  etcd:  {want}\n  store: {got}")
        if not same(want, got):
            mismatches += 1
            print(f"MISMATCH {request}\n  etcd:  {want}\n  store: {got}")
    print(f"{len(REQUESTS)} requests compared, {mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
