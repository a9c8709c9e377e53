"""Issue #14: kill -9 of `seral annotate` while answers arrive loses no saved answer.

    python benchmarks/annotate_kill.py [--rounds 20] [--clients 3]

Each round: a queue of the synthetic corpus, `seral annotate` on a free port, --clients
threads posting answers as fast as the server acknowledges them, and SIGKILL to the
server after a random 0.2-1.5 s (seeded). Then the labels file is read: every answer
the server acknowledged (HTTP 200) must be on disk, and no line may be cut; a restart
must take the file. Prints per round the answers acknowledged, on disk, lost and cut
lines, and the totals.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHOICES = ["anger", "happiness", "neutral", "sadness"]


def seral(*args, **kw):
    return subprocess.run([sys.executable, "-m", "seraltools", *map(str, args)], check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, **kw)


def post(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/api/answer", body=json.dumps(body), headers={"Content-Type": "application/json"})
    status = c.getresponse().status
    c.close()
    return status


def one_round(queue: Path, labels: Path, clients: int, delay: float) -> dict:
    proc = subprocess.Popen([sys.executable, "-m", "seraltools", "annotate", str(queue), str(labels), "--choices",
                             ",".join(CHOICES), "--port", "0", "--show", "id"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    port = int(re.search(r"127\.0\.0\.1:(\d+)/", proc.stderr.readline()).group(1))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/api/state")
    ids = [it["shown"]["id"] for it in json.loads(c.getresponse().read())["items"]]  # --show id: the page is blind
    acked, stop = [], threading.Event()

    def client(n):
        i = n
        while not stop.is_set():
            answer = (ids[i % len(ids)], CHOICES[i % 4], f"c{n}")
            try:
                if post(port, {"annotator": answer[2], "id": answer[0], "values": {"emotion": answer[1]}}) == 200:
                    acked.append(answer)
            except OSError:
                return
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    data = labels.read_bytes()
    lines = data.split(b"\n")
    cut = 0 if data.endswith(b"\n") else 1
    rows = [r for r in csv.reader(x.decode() for x in lines[1:] if x) if len(r) == 6]  # id,emotion,status,note,annotator,time
    on_disk = {(r[0], r[1], r[4]) for r in rows}
    lost = sum(1 for a in acked if a not in on_disk)
    restart = subprocess.Popen([sys.executable, "-m", "seraltools", "annotate", str(queue), str(labels), "--choices",
                                ",".join(CHOICES), "--port", "0"], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    restart.stderr.readline()
    restart.send_signal(signal.SIGINT)
    restart.communicate(timeout=10)
    return {"acked": len(acked), "lines": len(rows), "lost": lost, "cut": cut, "restart": restart.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        seral("synth", d / "corpus", stderr=subprocess.DEVNULL)
        seral("extract", "-q", "--feat", "logmel", d / "corpus" / "manifest.csv", d / "f.parquet")
        seral("mal-select", "-q", "--budget", "20", d / "f.parquet", d / "q.parquet")
        totals = {"acked": 0, "lines": 0, "lost": 0, "cut": 0}
        print(f"{'round':>5} {'delay s':>8} {'acknowledged':>13} {'lines on disk':>14} {'lost':>5} {'cut':>4} {'restart':>8}")
        for r in range(args.rounds):
            delay = rng.uniform(0.2, 1.5)
            res = one_round(d / "q.parquet", d / f"labels{r}.csv", args.clients, delay)
            for k in totals:
                totals[k] += res[k]
            print(f"{r + 1:>5} {delay:>8.2f} {res['acked']:>13} {res['lines']:>14} {res['lost']:>5} {res['cut']:>4} "
                  f"{'exit ' + str(res['restart']):>8}", flush=True)
        print(f"total: {totals['acked']} answers acknowledged, {totals['lines']} lines on disk, {totals['lost']} lost, "
              f"{totals['cut']} cut lines, over {args.rounds} kill -9 rounds with {args.clients} clients")


if __name__ == "__main__":
    main()
