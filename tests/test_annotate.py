"""seral annotate (answer log, server, kill -9), export-tasks and reading labels back,
Label Studio's exports included. The real-browser test is tests/test_annotate_browser.py."""

from __future__ import annotations

import csv
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
import soundfile as sf

from seraltools.annotate import AnswerLog, Annotation, make_server, parse_scheme, queue_items
from seraltools.errors import BadInput
from seraltools.labels import read_labels
from seraltools.table import read_table, write_table

from .conftest import ROOT

CHOICES = "anger,happiness,neutral,sadness"


@pytest.fixture(scope="module")
def queue(tmp_path_factory, synth_dir) -> Path:
    """A MAL queue of 6 over the synthetic corpus, plus one row that is a span of a file."""
    from typer.testing import CliRunner

    from seraltools.cli import app

    d = tmp_path_factory.mktemp("queue")
    run = CliRunner().invoke
    assert run(app, ["extract", "-q", "--feat", "logmel", str(synth_dir / "manifest.csv"), str(d / "f.parquet")]).exit_code == 0
    assert run(app, ["mal-select", "--method", "mal", "-q", "--budget", "5", str(d / "f.parquet"), str(d / "q.parquet")]).exit_code == 0
    t = read_table(d / "q.parquet")
    ranks = t.column("rank").to_pylist()
    free = ranks.index(None)  # an unranked row becomes rank 6, played from 0.5 s to 1.0 s
    ranks[free] = 6
    starts = [None] * t.num_rows
    ends = [None] * t.num_rows
    starts[free], ends[free] = 0.5, 1.0
    t = t.set_column(t.column_names.index("rank"), "rank", pa.array(ranks, pa.int32()))
    t = t.append_column("start", pa.array(starts, pa.float64())).append_column("end", pa.array(ends, pa.float64()))
    write_table(t, d / "q.parquet")
    return d / "q.parquet"


@pytest.fixture
def server(queue, tmp_path):
    """A running server on a free port: (annotation, port, labels path)."""
    items = queue_items(read_table(queue), "q")
    scheme = parse_scheme(None, [CHOICES])
    labels = tmp_path / "labels.csv"
    ann = Annotation(items, scheme, AnswerLog(labels, list(scheme)))
    srv = make_server(ann, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield ann, srv.server_address[1], labels
    srv.shutdown()
    srv.server_close()


def request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


# ------------------------------------------------------------------ the answer log


def test_answer_log_appends_and_the_last_answer_counts(tmp_path):
    log = AnswerLog(tmp_path / "l.csv", ["emotion", "valence"])
    log.append("a", {"emotion": "anger", "valence": "negative"}, "ann1")
    log.append("b", {"emotion": "sadness"}, "ann1")
    log.append("a", {"emotion": "neutral", "valence": "positive"}, "ann2")
    rows = list(csv.reader(open(tmp_path / "l.csv")))
    assert rows[0] == ["id", "emotion", "valence", "status", "note", "annotator", "time"]
    assert [r[:6] for r in rows[1:]] == [["a", "anger", "negative", "answer", "", "ann1"],
                                         ["b", "sadness", "", "answer", "", "ann1"],
                                         ["a", "neutral", "positive", "answer", "", "ann2"]]
    assert log.answers("ann1")["a"] == {"emotion": "anger", "valence": "negative"}
    assert log.answers()["a"]["emotion"] == "neutral"
    t = read_labels(tmp_path / "l.csv")  # read back: one row per id, the last answer
    assert dict(zip(t.column("id").to_pylist(), t.column("emotion").to_pylist())) == {"b": "sadness", "a": "neutral"}
    assert t.column("valence").to_pylist()[t.column("id").to_pylist().index("a")] == 1  # positive -> 1
    with pytest.raises(BadInput, match="not id,emotion,status,note,annotator,time"):
        AnswerLog(tmp_path / "l.csv", ["emotion"])  # other columns than before


def test_a_cut_last_line_is_dropped_and_said(tmp_path):
    path = tmp_path / "l.csv"
    log = AnswerLog(path, ["emotion"])
    log.append("a", {"emotion": "anger"}, "x")
    with open(path, "ab") as f:
        f.write(b"b,sadn")  # what a crash in the middle of a write would leave (never acknowledged)
    again = AnswerLog(path, ["emotion"])
    assert again.torn == 6
    assert path.read_bytes().endswith(b"\n") and again.answers() == {"a": {"emotion": "anger"}}


def _append_many(path, who, count):
    log = AnswerLog(path, ["emotion"])
    for i in range(count):
        log.append(f"{who}-{i}", {"emotion": "anger" if i % 2 else "sad, \"quoted\""}, who)


def test_threads_and_processes_appending_together_never_tear_a_line(tmp_path):
    import multiprocessing as mp

    path = tmp_path / "l.csv"
    AnswerLog(path, ["emotion"])
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, f"p{i}", 100)) for i in range(2)]
    threads = [threading.Thread(target=_append_many, args=(path, f"t{i}", 100)) for i in range(3)]
    for w in procs + threads:
        w.start()
    for w in procs + threads:
        w.join()
    rows = list(csv.reader(open(path, newline="")))[1:]
    assert len(rows) == 500 and all(len(r) == 6 for r in rows)
    assert {r[0] for r in rows} == {f"{w}-{i}" for w in ("p0", "p1", "t0", "t1", "t2") for i in range(100)}
    assert {r[1] for r in rows} == {"anger", "sad, \"quoted\""}


# ------------------------------------------------------------------ the server


def test_server_serves_the_queue_and_keeps_answers(server, queue):
    ann, port, labels = server
    status, body = request(port, "GET", "/api/state?annotator=ann1")
    state = json.loads(body)
    assert status == 200 and [it["rank"] for it in state["items"]] == [1, 2, 3, 4, 5, 6]
    assert state["columns"] == [{"name": "emotion", "kind": "choice", "choices": CHOICES.split(",")}]
    assert state["answers"] == {}
    status, body = request(port, "GET", "/audio/0.wav")
    assert status == 200 and body[:4] == b"RIFF"
    status, body = request(port, "GET", "/audio/5.wav")  # the span: 0.5 s of the file
    import io

    info = sf.info(io.BytesIO(body))
    assert status == 200 and abs(info.duration - 0.5) < 0.01
    first = ann.items[0].id
    assert request(port, "POST", "/api/answer", {"annotator": "ann1", "id": first, "values": {"emotion": "anger"}})[0] == 200
    assert request(port, "POST", "/api/answer", {"annotator": "ann2", "id": first, "values": {"emotion": "sadness"}})[0] == 200
    state = json.loads(request(port, "GET", "/api/state?annotator=ann1")[1])
    assert {k: v["values"] for k, v in state["answers"].items()} == {"0": {"emotion": "anger"}}  # their own only
    rows = list(csv.DictReader(open(labels)))
    assert [(r["id"], r["emotion"], r["annotator"]) for r in rows] == [(first, "anger", "ann1"), (first, "sadness", "ann2")]


@pytest.mark.parametrize("path", ["/audio/6.wav", "/audio/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/audio/-1.wav", "/audio/0", "/etc/passwd", "/web/annotate.html",
                                  "/audio/0.wav/../../x", "//etc/passwd"])
def test_nothing_but_the_queue_is_served(server, path):
    assert request(server[1], "GET", path)[0] == 404


@pytest.mark.parametrize("body, message", [
    ({"annotator": "a", "id": "nope", "values": {"emotion": "anger"}}, "not in the queue"),
    ({"annotator": "a", "id": None, "values": {"emotion": "joy"}}, "not in the queue"),
    ({"annotator": "../x", "id": "x", "values": {}}, "annotator"),
    ({"annotator": "a", "id": "ID", "values": {"emotion": "joy"}}, "not one of"),
    ({"annotator": "a", "id": "ID", "values": {"arousal": "low"}}, "not one of emotion"),
])
def test_bad_answers_are_refused_and_not_written(server, body, message):
    ann, port, labels = server
    body = dict(body, id=ann.items[0].id if body["id"] == "ID" else body["id"])
    status, data = request(port, "POST", "/api/answer", body)
    assert status == 400 and message in json.loads(data)["error"]
    assert labels.read_text().count("\n") == 1  # the header only


def test_annotate_cli_errors_are_one_line(cli, queue, tmp_path):
    res = cli("annotate", queue, tmp_path / "l.csv")
    assert res.exit_code == 2 and "--choices" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("annotate", queue, tmp_path / "l.csv", "--column", "a", "--column", "b", "--choices", "x,y")
    assert res.exit_code == 2 and "one --choices per --column" in res.stderr
    res = cli("annotate", queue, tmp_path / "l.csv", "--choices", "x,y", "--annotator", "a b")
    assert res.exit_code == 2 and "annotator" in res.stderr
    (tmp_path / "old.csv").write_text("id,valence,annotator,time\n")
    res = cli("annotate", queue, tmp_path / "old.csv", "--choices", CHOICES)
    assert res.exit_code == 2 and "give the same --column" in res.stderr


def _start(queue, labels, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "seraltools", "annotate", str(queue), str(labels), "--choices",
                             CHOICES, "--port", "0", *(extra or ("--show", "id"))], stderr=subprocess.PIPE, env=env,
                            text=True)
    line = proc.stderr.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)/", line).group(1))
    return proc, port, line


def test_kill_9_while_answers_arrive_loses_no_saved_answer(queue, tmp_path):
    """Answers are posted as fast as the server takes them; kill -9 mid-stream: every
    acknowledged answer is in the file, no line is torn, and a restart goes on."""
    labels = tmp_path / "labels.csv"
    proc, port, _ = _start(queue, labels)
    ids = [it["shown"]["id"] for it in json.loads(request(port, "GET", "/api/state")[1])["items"]]
    acked, stop = [], threading.Event()

    def post(who):
        i = 0
        while not stop.is_set():
            answer = (f"k{who}", ids[i % len(ids)], CHOICES.split(",")[(i // len(ids) + who) % 4], str(i))
            try:  # each answer is told apart by its annotator and its running number (in the id's order)
                status, _ = request(port, "POST", "/api/answer",
                                    {"annotator": answer[0], "id": answer[1], "values": {"emotion": answer[2]}})
            except OSError:
                return
            if status == 200:
                acked.append(answer[:3])
            i += 1

    workers = [threading.Thread(target=post, args=(w,)) for w in range(3)]
    for w in workers:
        w.start()
    deadline = time.time() + 10
    while len(acked) < 40 and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for w in workers:
        w.join()
    data = labels.read_bytes()
    rows = list(csv.reader(data.decode().splitlines()))[1:]
    assert len(acked) >= 40 and all(len(r) == 6 for r in rows[:-1])
    from collections import Counter

    kept = Counter((r[4], r[0], r[1]) for r in rows if len(r) == 6)
    missing = Counter(acked) - kept  # every acknowledged answer is on disk, as often as it was acknowledged
    assert not missing, missing
    assert sum(kept.values()) - len(acked) <= 3  # at most one written-not-acknowledged answer per client
    proc, port, line = _start(queue, labels)  # a restart takes the file as it is (a cut line dropped)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0 and "answered" in line + out
    rows = list(csv.reader(open(labels, newline="")))[1:]
    assert all(len(r) == 6 for r in rows) and len(rows) >= len(acked)


# ------------------------------------------------------------------ Label Studio


def test_export_tasks_for_label_studio(cli, queue, tmp_path):
    res = cli("export-tasks", queue, tmp_path / "tasks.json", "--choices", CHOICES)
    assert res.exit_code == 2 and "--clips" in res.stderr  # rank 6 is a span: no file of its own
    res = cli("export-tasks", queue, tmp_path / "tasks.json", "--clips", tmp_path / "clips", "--choices", CHOICES,
              "--config", tmp_path / "config.xml")
    assert res.exit_code == 0, res.stderr
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert [t["data"]["rank"] for t in tasks] == [1, 2, 3, 4, 5, 6]
    q = read_table(queue)
    ranked = {r: i for i, r in zip(q.column("id").to_pylist(), q.column("rank").to_pylist()) if r}
    assert [t["data"]["seral_id"] for t in tasks] == [ranked[r] for r in range(1, 7)]
    assert all(t["data"]["audio"].startswith("/data/local-files/?d=") for t in tasks)
    assert "LOCAL_FILES_DOCUMENT_ROOT=" in res.stderr
    clip = list((tmp_path / "clips").glob("queue-*/000006_*.wav"))  # this queue's own folder
    assert len(clip) == 1 and abs(sf.info(str(clip[0])).duration - 0.5) < 0.01
    config = (tmp_path / "config.xml").read_text()
    assert '<Choices name="emotion" toName="audio"' in config and '<Choice value="sadness"/>' in config
    res = cli("export-tasks", queue, "-", "--clips", tmp_path / "clips", "--url-prefix", "https://h/a/", "-q")
    assert json.loads(res.stdout)[0]["data"]["audio"].startswith("https://h/a/")


def _label_studio_exports(tasks, tmp_path):
    """What Label Studio writes for these tasks after two are annotated (one twice, one
    cancelled): its JSON, JSON-MIN and CSV exports."""
    full = []
    for n, t in enumerate(tasks):
        annotations = []
        if n == 0:
            annotations = [
                {"id": 10, "completed_by": 1, "was_cancelled": False, "created_at": "2026-11-27T10:00:00Z",
                 "updated_at": "2026-11-27T10:00:00Z", "lead_time": 3.1,
                 "result": [{"from_name": "emotion", "to_name": "audio", "type": "choices",
                             "value": {"choices": ["anger"]}}]},
                {"id": 11, "completed_by": 2, "was_cancelled": False, "created_at": "2026-11-27T11:00:00Z",
                 "updated_at": "2026-11-27T11:00:00Z", "lead_time": 2.0,
                 "result": [{"from_name": "emotion", "to_name": "audio", "type": "choices",
                             "value": {"choices": ["neutral"]}}]}]
        elif n == 1:
            annotations = [{"id": 12, "completed_by": 1, "was_cancelled": False, "created_at": "2026-11-27T10:05:00Z",
                            "updated_at": "2026-11-27T10:05:00Z", "lead_time": 4.0,
                            "result": [{"from_name": "emotion", "to_name": "audio", "type": "choices",
                                        "value": {"choices": ["sadness"]}}]}]
        elif n == 2:
            annotations = [{"id": 13, "completed_by": 1, "was_cancelled": True, "result": []}]
        full.append({"id": 100 + n, "annotations": annotations, "data": t["data"], "predictions": []})
    (tmp_path / "ls.json").write_text(json.dumps(full))
    minimal = [{**tasks[0]["data"], "id": 100, "emotion": "neutral", "annotator": 2, "annotation_id": 11,
                "created_at": "2026-11-27T11:00:00Z", "updated_at": "2026-11-27T11:00:00Z", "lead_time": 2.0},
               {**tasks[1]["data"], "id": 101, "emotion": "sadness", "annotator": 1, "annotation_id": 12,
                "created_at": "2026-11-27T10:05:00Z", "updated_at": "2026-11-27T10:05:00Z", "lead_time": 4.0}]
    (tmp_path / "ls-min.json").write_text(json.dumps(minimal))
    with open(tmp_path / "ls.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["annotation_id", "annotator", "audio", "created_at", "emotion", "id",
                                          "lead_time", "rank", "seral_id", "speaker", "updated_at"])
        w.writeheader()
        for m in minimal:
            w.writerow(m)
    return [tmp_path / "ls.json", tmp_path / "ls-min.json", tmp_path / "ls.csv"]


def test_label_studio_exports_come_back_through_the_seral_id(cli, queue, tmp_path):
    assert cli("export-tasks", "-q", queue, tmp_path / "tasks.json", "--clips", tmp_path / "c").exit_code == 0
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    first, second = tasks[0]["data"]["seral_id"], tasks[1]["data"]["seral_id"]
    for export in _label_studio_exports(tasks, tmp_path):
        t = read_labels(export)
        got = dict(zip(t.column("id").to_pylist(), t.column("emotion").to_pylist()))
        assert got == {first: "neutral", second: "sadness"}, export.name  # the latest annotation, none cancelled
        res = cli("cluster-labels", "--replace", queue, export, tmp_path / "cl.parquet")  # the choices only
        assert res.exit_code == 0, res.stderr
        cl = read_table(tmp_path / "cl.parquet")
        added = set(cl.column_names) - set(read_table(queue).column_names)
        assert added == {"label_source"}, export.name  # emotion replaced; no annotator, lead_time, audio ...
        row = cl.column("id").to_pylist().index(first)
        assert cl.column("emotion")[row].as_py() == "neutral" and cl.column("label_source")[row].as_py() == "annotated"
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps([{"id": 1, "data": {"audio": "x.wav"}, "annotations": []}]))
    with pytest.raises(BadInput, match="no 'seral_id'"):
        read_labels(bad)


def test_default_label_columns_are_never_bookkeeping(tmp_path):
    from seraltools.labels import label_columns

    t = pa.table({"id": ["a"], "mood": ["x"], "annotator": ["me"], "time": ["t"], "lead_time": [1.0],
                  "annotation_id": [3], "rank": [1], "emotion_predicted": ["y"]})
    assert label_columns(t, None, "t") == ["mood"]
    assert label_columns(t.append_column("emotion", pa.array(["anger"])), None, "t") == ["emotion"]


def test_next_round_from_the_answer_log(cli, queue, tmp_path):
    """mal-select --labelled reads the answer log: answered ids are not queued again."""
    log = AnswerLog(tmp_path / "l.csv", ["emotion"])
    q = read_table(queue)
    ranked = sorted((r, i) for i, r in zip(q.column("id").to_pylist(), q.column("rank").to_pylist()) if r)
    for _, i in ranked[:3]:
        log.append(i, {"emotion": "anger"}, "a")
    f = queue.parent / "f.parquet"
    res = cli("mal-select", "--method", "mal", "-q", "--budget", 4, "--labelled", tmp_path / "l.csv", "--only-queries", f,
              tmp_path / "q2.parquet")
    assert res.exit_code == 0, res.stderr
    new = read_table(tmp_path / "q2.parquet").column("id").to_pylist()
    assert len(new) == 4 and not set(new) & {i for _, i in ranked[:3]}
    res = cli("mal-select", "--method", "mal", "-q", "--budget", 8, "--only-queries", f, tmp_path / "q8.parquet")
    first8 = read_table(tmp_path / "q8.parquet").column("id").to_pylist()
    assert first8[:3] == [i for _, i in ranked[:3]] and new == first8[3:7]  # the next round continues the queue


# ------------------------------------------------------------------ in a real browser

CHROMIUM = os.environ.get("SERAL_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` installs it as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


def test_label_in_the_browser_by_click_and_key_then_reload(browser, queue, tmp_path):
    labels = tmp_path / "labels.csv"
    proc, port, _ = _start(queue, labels)
    try:
        items = json.loads(request(port, "GET", "/api/state")[1])["items"]
        ids = [it["shown"]["id"] for it in items]
        page = browser.new_page(viewport={"width": 900, "height": 620})
        page.goto(f"http://127.0.0.1:{port}/?annotator=web")
        page.wait_for_function("(document.querySelector('.shown-id') || {}).textContent")
        assert page.text_content("#rank") == "1" and page.text_content(".shown-id") == ids[0]
        page.wait_for_function("(() => { const a = document.getElementById('audio');"
                               " return a.readyState >= 1 && isFinite(a.duration) && a.duration > 0; })()")
        duration = page.evaluate("document.getElementById('audio').duration")
        assert abs(duration - items[0]["duration"]) < 0.05  # the browser decoded the served audio

        def wait_rank(rank):
            try:
                page.wait_for_function(f"document.getElementById('rank').textContent === '{rank}'", timeout=10_000)
            except Exception:
                raise AssertionError(f"rank {page.text_content('#rank')} shown, not {rank}; "
                                     f"status: {page.text_content('#status')!r}") from None

        page.click("button.choice[data-choice='anger']")  # rank 1 by click
        wait_rank(2)
        page.keyboard.press("3")  # rank 2 by key: the third choice, neutral
        wait_rank(3)
        page.keyboard.press("ArrowRight")  # skip rank 3
        wait_rank(4)
        page.keyboard.press("4")  # rank 4: sadness
        wait_rank(5)
        page.keyboard.press("ArrowLeft")  # back to rank 4 and change the answer
        wait_rank(4)
        assert page.get_attribute("button.choice.chosen", "data-choice") == "sadness"
        page.click("button.choice[data-choice='happiness']")
        wait_rank(5)
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Saved rank 4')")
        if os.environ.get("SERAL_SCREENSHOT"):
            page.screenshot(path=os.environ["SERAL_SCREENSHOT"])
        page.reload()  # goes on at the first row this annotator has not answered: rank 3
        page.wait_for_function("(document.querySelector('.shown-id') || {}).textContent")
        assert page.text_content("#rank") == "3"
        assert page.text_content("#progress") == "3 of 6 answered"
        page.close()
    except Exception as e:
        proc.send_signal(signal.SIGINT)
        raise AssertionError(f"{e}; server's stderr: {proc.communicate(timeout=10)[1]}") from None
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    rows = [(r["id"], r["emotion"], r["status"], r["annotator"]) for r in csv.DictReader(open(labels, newline=""))]
    assert rows == [(ids[0], "anger", "answer", "web"), (ids[1], "neutral", "answer", "web"),
                    (ids[2], "", "skip", "web"),  # the skip is recorded
                    (ids[3], "sadness", "answer", "web"), (ids[3], "happiness", "answer", "web")]
    t = read_labels(labels)
    assert dict(zip(t.column("id").to_pylist(), t.column("emotion").to_pylist())) == {
        ids[0]: "anger", ids[1]: "neutral", ids[3]: "happiness"}


# ------------------------------------------------------------------ what an adversarial pass found


def test_an_output_that_is_an_input_is_refused(cli, queue, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,emotion\nx,anger\n")
    before = labels.read_bytes()
    for args in (["cluster-labels", queue, labels, labels], ["predict", labels, queue.parent / "f.parquet", labels],
                 ["export-tasks", queue, queue], ["export-tasks", queue, tmp_path / "t.json", "--choices", "a,b",
                                                   "--config", tmp_path / "t.json"]):
        if args[-1] == tmp_path / "t.json":
            (tmp_path / "t.json").write_text("[]")
        res = cli(*args)
        assert res.exit_code == 2 and "writing it would destroy it" in res.stderr, (args, res.stderr)
    assert labels.read_bytes() == before and read_table(queue).num_rows > 0


def test_lines_without_their_newline_are_kept_when_whole(tmp_path):
    header_only = tmp_path / "h.csv"
    header_only.write_text("id,emotion,annotator,time")  # typed by hand
    log = AnswerLog(header_only, ["emotion"])
    assert log.torn == 0
    log.append("a", {"emotion": "anger"}, "x")
    assert read_labels(header_only).column("id").to_pylist() == ["a"]
    whole = tmp_path / "w.csv"
    whole.write_text('id,emotion,annotator,time\nb,"sad, very",bob,2024-05-01T10:00:00.000Z')
    assert AnswerLog(whole, ["emotion"]).torn == 0
    assert AnswerLog(whole, ["emotion"]).answers() == {"b": {"emotion": "sad, very"}}
    for tail in ('b,"sad, ve', "b,sadness,bob,2025-01-0", "c,anger,bob,", "c,anger"):  # cut mid-write
        cut = tmp_path / "c.csv"
        cut.write_text("id,emotion,annotator,time\n" + tail)
        assert AnswerLog(cut, ["emotion"]).torn == len(tail) and cut.read_text() == "id,emotion,annotator,time\n"


@pytest.mark.parametrize("columns, choices, message", [
    (["rank"], ["a,b"], "bookkeeping"), (["annotator"], ["a,b"], "bookkeeping"), ([" "], ["a,b"], "bookkeeping"),
    (["valence"], ["happy,sad"], "binary"), (["arousal"], ["low,mid,high"], "binary"),
])
def test_label_columns_that_no_reader_would_take_back_are_refused(columns, choices, message):
    with pytest.raises(BadInput, match=message):
        parse_scheme(columns, choices)
    assert parse_scheme(["valence"], ["negative,positive"]) == {"valence": ["negative", "positive"]}


def test_partial_answers_and_deep_json_are_refused(queue, tmp_path):
    items = queue_items(read_table(queue), "q")
    scheme = parse_scheme(["valence", "arousal"], ["negative,positive", "low,high"])
    ann = Annotation(items, scheme, AnswerLog(tmp_path / "l.csv", list(scheme)))
    srv = make_server(ann, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = srv.server_address[1]
    try:
        status, data = request(port, "POST", "/api/answer", {"annotator": "a", "id": items[0].id,
                                                             "values": {"arousal": "high"}})
        assert status == 400 and "no valence given" in json.loads(data)["error"]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/api/answer", body="[" * 30000 + "]" * 30000, headers={"Content-Type": "application/json"})
        assert c.getresponse().status == 400
        c.close()
        good = json.dumps({"annotator": "a", "id": items[0].id, "values": {"valence": "negative", "arousal": "low"}})
        for headers in ({"Content-Type": "text/plain"},  # a form another site's page can send without asking
                        {"Content-Type": "application/json", "Origin": "http://evil.example"},
                        {"Content-Type": "application/json", "Host": f"evil.example:{port}"}):  # DNS rebinding
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/api/answer", body=good, headers=headers)
            assert c.getresponse().status == 403, headers
            c.close()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/api/state", headers={"Host": "evil.example"})
        assert c.getresponse().status == 403
    finally:
        srv.shutdown()
        srv.server_close()
    assert (tmp_path / "l.csv").read_text().count("\n") == 1


def test_queues_with_nan_or_odd_ranks(tmp_path, queue):
    t = read_table(queue)
    ranks = [float("nan") if r is None else float(r) for r in t.column("rank").to_pylist()]
    t2 = t.set_column(t.column_names.index("rank"), "rank", pa.array(ranks, pa.float64()))
    assert [it.rank for it in queue_items(t2, "q")] == [1, 2, 3, 4, 5, 6]  # NaN: not queued
    t3 = t.set_column(t.column_names.index("rank"), "rank", pa.array([1.5] + ranks[1:], pa.float64()))
    with pytest.raises(BadInput, match="not a whole number"):
        queue_items(t3, "q")


def test_odd_labels_files_are_one_line_errors(cli, queue, tmp_path):
    (tmp_path / "dup.csv").write_text("id,emotion,emotion\na,b,c\n")
    (tmp_path / "d.json").mkdir()
    (tmp_path / "empty-id.csv").write_text("id,emotion\n,anger\n")
    for f, message in (("dup.csv", "appears twice"), ("d.json", "not readable"), ("empty-id.csv", "has no id")):
        res = cli("cluster-labels", queue, tmp_path / f, tmp_path / "o.parquet")
        assert res.exit_code == 2 and message in res.stderr, res.stderr
    ls = tmp_path / "ls.csv"  # Label Studio writes several choices as a JSON cell
    ls.write_text('id,seral_id,emotion,annotator\n7,a,"{""choices"": [""anger"", ""neutral""]}",1\n')
    assert read_labels(ls).column("emotion").to_pylist() == ["anger,neutral"]


def test_export_tasks_through_a_symlinked_directory(cli, queue, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    res = cli("export-tasks", "-q", queue, tmp_path / "t.json", "--clips", tmp_path / "link" / "clips",
              "--root", tmp_path / "link")
    assert res.exit_code == 2 and "is not under --root" in res.stderr  # the corpus files are elsewhere
    res = cli("export-tasks", "-q", queue, tmp_path / "t.json", "--clips", tmp_path / "link" / "clips",
              "--root", "/")
    assert res.exit_code == 0, res.stderr
    clip = [t for t in json.loads((tmp_path / "t.json").read_text()) if t["data"]["rank"] == 6][0]
    assert re.search(r"real/clips/queue-[0-9a-f]{8}/000006_", clip["data"]["audio"])


def test_the_page_says_when_audio_fails_and_handles_any_id(browser, queue, tmp_path):
    """Ids such as "constructor" or "__proto__" are not mistaken for answered rows; audio
    that does not load is said on the page and cannot be labelled blind."""
    t = read_table(queue)
    ids = t.column("id").to_pylist()
    ranks = t.column("rank").to_pylist()
    order = sorted((r, i) for i, r in enumerate(ranks) if r)
    ids[order[0][1]], ids[order[1][1]] = "constructor", "__proto__"
    paths = t.column("path").to_pylist()
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00")
    paths[order[2][1]] = str(tmp_path / "broken.wav")
    t = t.set_column(t.column_names.index("id"), "id", pa.array(ids)).set_column(
        t.column_names.index("path"), "path", pa.array(paths))
    write_table(t, tmp_path / "q.parquet")
    proc, port, _ = _start(tmp_path / "q.parquet", tmp_path / "l.csv")
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/?annotator=w")
        page.wait_for_function("(document.querySelector('.shown-id') || {}).textContent")
        assert page.text_content(".shown-id") == "constructor" and page.text_content("#progress") == "0 of 6 answered"
        page.keyboard.press("1")
        page.wait_for_function("document.getElementById('rank').textContent === '2'")
        page.keyboard.press("2")
        page.wait_for_function("document.getElementById('rank').textContent === '3'")
        page.wait_for_function("document.getElementById('status').textContent.includes('did not load')")
        page.keyboard.press("1")  # blocked, and the message says why (not "see above" with nothing above)
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Not saved')")
        assert "broken.wav" in page.text_content("#status"), page.text_content("#status")
        assert page.text_content("#rank") == "3"
        page.close()
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=10)[1]
    assert "rank 3:" in err and "broken.wav" in err  # the server says it too
    rows = [(r["id"], r["emotion"]) for r in csv.DictReader(open(tmp_path / "l.csv", newline=""))]
    assert rows == [("constructor", "anger"), ("__proto__", "happiness")]


def test_a_browser_dropping_audio_downloads_does_not_stop_the_server(queue, tmp_path):
    """Browsers cut audio downloads short when the annotator moves on; the write to the
    closed socket (SIGPIPE) once killed the server."""
    import socket

    proc, port, _ = _start(queue, tmp_path / "l.csv")
    try:
        for _ in range(20):  # ask for audio and hang up at once: the server's writes meet a closed socket
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /audio/0.wav HTTP/1.0\r\n\r\n")
            s.close()
        time.sleep(0.3)
        status, _ = request(port, "GET", "/api/state")
        assert status == 200 and proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0 and "Traceback" not in err


def test_labels_from_pipes_fifos_and_process_substitution(tmp_path):
    """Labels may come through a pipe (a FIFO, /dev/fd/N of a shell's <(...)) in any
    format; a FIFO nobody writes to yet is said on stderr instead of a silent hang."""
    text = "id,emotion\nu1,anger\nu2,calm\n"
    ls_json = json.dumps([{"id": 1, "data": {"seral_id": "u1"}, "annotations": [
        {"result": [{"from_name": "emotion", "type": "choices", "value": {"choices": ["anger"]}}]}]}])
    code = ("import sys; from seraltools.labels import read_labels; "
            "print(read_labels(sys.argv[1]).select(['id', 'emotion']).to_pylist())")
    for name, payload, delay in (("labels.csv", text, 0), ("labels", text, 0), ("ls", ls_json, 0),
                                 ("late.csv", text, 1.5)):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        p = subprocess.Popen([sys.executable, "-c", code, str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        time.sleep(delay)
        with open(fifo, "w") as w:
            w.write(payload)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "'u1', 'emotion': 'anger'" in out
        assert ("no writer yet" in err) == bool(delay), err
    r, w = os.pipe()  # /dev/fd/N: no name to tell the format by
    os.write(w, text.encode())
    os.close(w)
    try:
        assert read_labels(f"/dev/fd/{r}").column("emotion").to_pylist() == ["anger", "calm"]
    finally:
        os.close(r)


def test_a_failed_export_leaves_no_clips(cli, queue, tmp_path):
    """Clips are staged and moved into --clips only once the tasks are written: an export
    failing after them (a --root not above every file) leaves the directory as it was,
    and a killed export's staging directory goes at the next export."""
    clips = tmp_path / "clips"
    host = re.sub(r"[^A-Za-z0-9]", "", os.uname().nodename)[:32]
    stale = clips / f".seral-clips-999999999-{host}-x"  # a pid no process has, on this host
    stale.mkdir(parents=True)
    (stale / "000006_u.wav").write_bytes(b"RIFF")
    res = cli("export-tasks", queue, tmp_path / "tasks.json", "--clips", clips, "--root", tmp_path / "elsewhere")
    assert res.exit_code == 2 and "--root" in res.stderr
    assert list(clips.iterdir()) == [] and not (tmp_path / "tasks.json").exists()
    res = cli("export-tasks", "-q", queue, tmp_path / "tasks.json", "--clips", clips)
    assert res.exit_code == 0 and [p.suffix for p in clips.glob("queue-*/*")] == [".wav"]


def test_a_fifo_writer_that_comes_and_goes_while_seral_waits_is_read(tmp_path, monkeypatch):
    """The writer opens, writes and closes between seral's look for a writer and its wait:
    the data is read, not waited for forever."""
    import io

    from seraltools.table import read_unseekable

    fifo = tmp_path / "labels.csv"
    os.mkfifo(fifo)

    class WriterOnMessage(io.StringIO):
        def write(self, s):
            if "no writer yet" in s:  # seral is about to wait: a writer comes and goes now
                with open(fifo, "w") as w:
                    w.write("id,emotion\nu1,anger\n")
            return len(s)

    monkeypatch.setattr(sys, "stderr", WriterOnMessage())
    got = []
    t = threading.Thread(target=lambda: got.append(read_unseekable(str(fifo))), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "seral waits for a writer that has come and gone"
    assert got == [b"id,emotion\nu1,anger\n"]


# ------------------------------------------------------------------ issue #27: S1, S2, M4, M7, M8


def _raw(port, lines: list[str], body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.0 request as a non-browser client would send it (any Host header)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def test_a_server_open_to_other_machines_needs_a_token(queue, tmp_path):
    """S1: --host 0.0.0.0 without --token is refused by the library; the command makes a
    token and prints it once in the link; a request without it (any Host header) is 403,
    with it (query, then the cookie the page gets) it is served."""
    items = queue_items(read_table(queue), "q")
    scheme = parse_scheme(None, [CHOICES])
    ann = Annotation(items, scheme, AnswerLog(tmp_path / "l.csv", list(scheme)))
    with pytest.raises(BadInput, match="--token"):
        make_server(ann, "0.0.0.0", 0)
    proc, port, line = _start(queue, tmp_path / "l.csv", "--host", "0.0.0.0")
    try:
        token = re.search(r"token=([A-Za-z0-9_-]+)", line).group(1)
        host = f"Host: 127.0.0.1:{port}"
        assert _raw(port, ["GET /api/state HTTP/1.0", host])[0] == 403
        assert _raw(port, ["GET /audio/0.wav HTTP/1.0", host])[0] == 403
        body = json.dumps({"annotator": "x", "id": items[0].id, "values": {"emotion": "anger"}}).encode()
        post = ["POST /api/answer HTTP/1.0", host, "Content-Type: application/json", f"Content-Length: {len(body)}"]
        assert _raw(port, post, body)[0] == 403
        assert _raw(port, [f"GET /api/state?token={token}x HTTP/1.0", host])[0] == 403
        status, _ = _raw(port, [f"GET /api/state?token={token} HTTP/1.0", "Host: evil.example:80"])
        assert status == 403  # a Host that is not this server's: refused even with the token
        assert _raw(port, [f"GET /api/state?token={token} HTTP/1.0", host])[0] == 200
        assert _raw(port, ["GET /audio/0.wav HTTP/1.0", host, f"Cookie: seral_token_{port}={token}"])[0] == 200
        assert _raw(port, [*post, f"X-Seral-Token: {token}"], body)[0] == 200
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", f"/?token={token}")
        r = c.getresponse()
        r.read()
        assert r.status == 200 and f"seral_token_{port}={token}" in r.getheader("Set-Cookie") and "HttpOnly" in r.getheader("Set-Cookie")
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=10)[1]
    assert err.count(token) == 0  # printed once: in the first line only
    assert [r["annotator"] for r in csv.DictReader(open(tmp_path / "l.csv"))] == ["x"]


def test_idle_connections_do_not_lock_annotators_out(queue, tmp_path):
    """S2: under `ulimit -n 64`, 65 idle connections: the server still answers a request
    (the connection that waited longest for a request is closed for a new one)."""
    import resource
    import socket

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "seraltools", "annotate", str(queue), str(tmp_path / "l.csv"),
                             "--choices", CHOICES, "--port", "0"], stderr=subprocess.PIPE, env=env, text=True,
                            preexec_fn=limit)
    idle = []
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", proc.stderr.readline()).group(1))
        for _ in range(65):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        idle[-1].sendall(b"GET / HTTP/1.0\r\n")  # a slow client: half a request
        for _ in range(3):  # each request gets through, though every idle socket stays open on our side
            status, body = request(port, "GET", "/api/state")
            assert status == 200 and json.loads(body)["items"]
        assert proc.poll() is None
    finally:
        for s in idle:
            s.close()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def test_label_studio_json_with_odd_annotations_is_one_line(cli, queue, tmp_path):
    """M4: annotations or results that are not objects: exit 2, one line naming the file."""
    data = {"seral_id": "a", "audio": "x"}
    for bad in ([{"id": 1, "data": data, "annotations": ["anger"]}],
                [{"id": 1, "data": data, "annotations": {"a": 1}}],
                [{"id": 1, "data": data, "annotations": [{"result": ["anger"]}]}],
                [{"id": 1, "data": data, "annotations": [{"result": "anger"}]}],
                [{"id": 1, "data": ["seral_id"], "annotations": []}]):
        path = tmp_path / "odd.json"
        path.write_text(json.dumps(bad))
        res = cli("cluster-labels", queue, path, tmp_path / "o.parquet")
        assert res.exit_code == 2 and str(path) in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_a_labels_file_that_is_not_utf8(cli, queue, tmp_path, server):
    """M7: non-UTF-8 bytes in the labels file: annotate refuses it at start in one line
    naming the line; bytes appended while it runs do not drop the state request."""
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,emotion,annotator,time\nx,\xff\xfeanger,a,2026-01-01T00:00:00.000Z\n")
    res = cli("annotate", queue, bad, "--choices", CHOICES)
    assert res.exit_code == 2 and "line 2 is not UTF-8" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    ann, port, labels = server
    with open(labels, "ab") as f:
        f.write(b"y,\xff,answer,,a,2026-01-01T00:00:00.000Z\n")
    status, body = request(port, "GET", "/api/state?annotator=a")
    assert status == 200 and "answers" in json.loads(body)
    assert set(ann.log.answers()) == {"y"}  # the summary's read does not crash either


def test_export_tasks_clips_on_a_place_that_cannot_take_them(cli, queue, tmp_path, monkeypatch):
    """M8: --clips where no directory can be made: exit 2 before any clip is decoded."""
    import seraltools.annotate as annotate

    decoded = []
    monkeypatch.setattr(annotate, "wav_bytes", lambda s: decoded.append(s) or b"RIFF")
    (tmp_path / "file").write_text("x")
    res = cli("export-tasks", queue, tmp_path / "tasks.json", "--clips", tmp_path / "file" / "clips")
    assert res.exit_code == 2 and "--clips" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not decoded and not (tmp_path / "tasks.json").exists()
    if os.geteuid() != 0:  # root writes into a read-only directory anyway
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        res = cli("export-tasks", queue, tmp_path / "tasks.json", "--clips", ro / "clips")
        assert res.exit_code == 2 and "--clips" in res.stderr and not decoded


# ------------------------------------------------------------------ several raters, scales, blind, in a real browser


def _wait(page, js, what, timeout=15_000):
    try:
        page.wait_for_function(js, timeout=timeout)
    except Exception:
        raise AssertionError(f"{what}: rank {page.text_content('#rank')!r}, status "
                             f"{page.text_content('#status')!r}") from None


def test_two_annotators_with_raters_2_and_a_stale_tab_in_the_browser(browser, queue, tmp_path):
    labels = tmp_path / "l.csv"
    proc, port, _ = _start(queue, labels, "--raters", "2")
    ids = [it.id for it in queue_items(read_table(queue), "q")]
    try:
        x1, x2, y = (browser.new_page() for _ in range(3))
        for page, who in ((x1, "x"), (x2, "x"), (y, "y")):
            page.goto(f"http://127.0.0.1:{port}/?annotator={who}")
            _wait(page, "document.getElementById('rank').textContent === '1'", "loaded")
        x1.keyboard.press("1")  # x, first tab: anger for rank 1
        _wait(x1, "document.getElementById('rank').textContent === '2'", "x1 moved on")
        x2.keyboard.press("2")  # x, second tab, loaded before that answer: refused, not written over it
        _wait(x2, "document.getElementById('status').textContent.includes('another tab')", "stale answer refused")
        y.keyboard.press("4")  # y: sadness for rank 1 (one rater of two so far)
        _wait(y, "document.getElementById('rank').textContent === '2'", "y moved on")
        z = browser.new_page()
        z.goto(f"http://127.0.0.1:{port}/?annotator=z")  # rank 1 has its two raters: z starts at rank 2
        _wait(z, "document.getElementById('rank').textContent === '2'", "z starts past the done item")
        assert "1 by others" in z.text_content("#progress")
        for p in (x1, x2, y, z):
            p.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    rows = [(r["id"], r["emotion"], r["annotator"]) for r in csv.DictReader(open(labels, newline=""))]
    assert rows == [(ids[0], "anger", "x"), (ids[0], "sadness", "y")]


def test_scales_by_keys_blind_waveform_and_server_down_in_the_browser(browser, queue, tmp_path):
    labels = tmp_path / "l.csv"
    proc, port, _ = _start(queue, labels, "--scale", "valence=1:5,arousal=1:5")
    ids = [it.id for it in queue_items(read_table(queue), "q")]
    stopped = False
    try:
        page = browser.new_page(viewport={"width": 900, "height": 760})
        page.goto(f"http://127.0.0.1:{port}/?annotator=w")
        _wait(page, "document.getElementById('rank').textContent === '1'", "loaded")
        _wait(page, "document.getElementById('hint').textContent === 'Press Space to play'", "the play hint")
        _wait(page, "document.getElementById('wave').dataset.drawn === '1'", "waveform drawn")
        inked = page.evaluate("""(() => { const c = document.getElementById('wave');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()""")
        assert inked > 500  # the waveform has ink on it
        html = page.content()
        assert not any(i in html for i in ids)  # blind: no id anywhere in the page
        page.keyboard.press(" ")
        _wait(page, "document.getElementById('hint').textContent === ''", "the hint goes once played")
        page.keyboard.press("]")
        assert page.evaluate("document.getElementById('audio').playbackRate") == 1.25
        page.keyboard.press("1")  # emotion: anger
        page.keyboard.press("4")  # valence 4
        page.keyboard.press("ArrowUp")  # back to valence
        page.keyboard.press("5")  # valence 5
        page.keyboard.press("2")  # arousal 2: the answer is whole and saved
        _wait(page, "document.getElementById('rank').textContent === '2'", "scale answer saved")
        if os.environ.get("SERAL_SCREENSHOT_SCALE"):
            page.screenshot(path=os.environ["SERAL_SCREENSHOT_SCALE"])
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        stopped = True
        page.keyboard.press("1")
        page.keyboard.press("3")
        page.keyboard.press("3")
        _wait(page, "getComputedStyle(document.getElementById('down')).display === 'block'", "server-down state shown")
        # the banner can come from the page's own check before the failed answer reports
        _wait(page, "document.getElementById('status').textContent.startsWith('Not saved')", "the answer not saved")
        page.close()
    finally:
        if not stopped:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)
    rows = list(csv.DictReader(open(labels, newline="")))
    assert [(r["id"], r["emotion"], r["valence[1:5]"], r["arousal[1:5]"]) for r in rows] == [(ids[0], "anger", "5", "2")]
    t = read_labels(labels)
    assert t.column("valence").to_pylist() == [5.0]


def test_label_studio_advice_is_a_setup_label_studio_accepts(cli, queue, tmp_path):
    """Label Studio refuses a Local Storage path equal to LOCAL_FILES_DOCUMENT_ROOT (it must
    be a folder under it): export-tasks advises the clips' parent as the root and their
    folder as the storage; each round's clips go to a folder of their own."""
    from seraltools.annotate import label_studio_accepts

    assert not label_studio_accepts("/data/clips", "/data/clips") and label_studio_accepts("/data/clips", "/data")
    assert not label_studio_accepts("/data2/clips", "/data")
    res = cli("export-tasks", queue, tmp_path / "t.json", "--clips", tmp_path / "clips")
    assert res.exit_code == 0, res.stderr
    root = re.search(r"DOCUMENT_ROOT=(\S+)", res.stderr).group(1)
    storage = re.search(r"with the path (\S+)", res.stderr).group(1)
    assert label_studio_accepts(storage, root)
    for task in json.loads((tmp_path / "t.json").read_text()):  # every URL resolves under the storage
        rel = task["data"]["audio"].split("?d=", 1)[1]
        from urllib.parse import unquote

        path = os.path.join(root, unquote(rel))
        assert os.path.exists(path) and path.startswith(storage + os.sep)
    q = read_table(queue)  # a next round: another queue, ranked from 1 again
    ranks = q.column("rank").to_pylist()
    q2 = q.set_column(q.column_names.index("rank"), "rank", pa.array([None if r is None else 7 - r for r in ranks], pa.int32()))
    q2 = q2.set_column(q2.column_names.index("start"), "start", pa.array([0.1] * q2.num_rows))
    write_table(q2, tmp_path / "q2.parquet")
    assert cli("export-tasks", "-q", tmp_path / "q2.parquet", tmp_path / "t2.json", "--clips", tmp_path / "clips").exit_code == 0
    folders = sorted(p.name for p in (tmp_path / "clips").iterdir())
    assert len(folders) == 2 and all(len(list((tmp_path / "clips" / f).iterdir())) for f in folders)


def test_a_segment_plays_in_its_context(server):
    """/audio/N-context.wav: the span widened by 3 s each side, within the recording."""
    import io

    ann, port, _ = server
    six = [i for i, it in enumerate(ann.items) if it.rank == 6][0]
    whole = sf.info(ann.items[six].source.path).duration
    status, body = request(port, "GET", f"/audio/{six}-context.wav")
    assert status == 200 and abs(sf.info(io.BytesIO(body)).duration - min(whole, 4.0)) < 0.01  # 0.5-1.0 s -> 0-4 s
    status, body = request(port, "GET", "/audio/0-context.wav")  # a whole file: itself
    assert status == 200 and abs(sf.info(io.BytesIO(body)).duration - ann.items[0].duration) < 0.01


def test_the_end_screen_counts_and_names_the_next_command(browser, queue, tmp_path):
    proc, port, _ = _start(queue, tmp_path / "l.csv")
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/?annotator=w")
        for rank in range(1, 7):
            _wait(page, f"document.getElementById('rank').textContent === '{rank}'", f"rank {rank}")
            if rank == 2:
                page.keyboard.press("u")  # unsure of this one
            page.keyboard.press(str(1 + rank % 4))
        _wait(page, "getComputedStyle(document.getElementById('done')).display === 'block'", "end screen")
        assert page.text_content("#done-counts") == "6 answered by you (1 unsure), 6 in the queue."
        assert page.text_content("#next-command") == "seral labels l.csv"
        assert page.evaluate("document.getElementById('audio').paused")  # the last clip is not replayed
        page.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    rows = list(csv.DictReader(open(tmp_path / "l.csv", newline="")))
    assert [r["status"] for r in rows] == ["answer", "unsure", "answer", "answer", "answer", "answer"]


def test_one_server_asks_each_person_for_a_name(browser, queue, tmp_path):
    """Without --annotator, the printed link names nobody and the page asks for a name
    (kept in its address); with it, the link and the page use it."""
    proc, port, line = _start(queue, tmp_path / "l.csv")
    try:
        assert "annotator=" not in line
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        _wait(page, "getComputedStyle(document.getElementById('who')).display === 'block'", "name asked")
        page.fill("#who-name", "ana")
        page.click("#who button")
        _wait(page, "document.getElementById('rank').textContent === '1'", "started")
        assert page.text_content("#annotator") == "ana" and "annotator=ana" in page.url
        page.keyboard.press("1")
        _wait(page, "document.getElementById('rank').textContent === '2'", "answered")
        page.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert [r["annotator"] for r in csv.DictReader(open(tmp_path / "l.csv"))] == ["ana"]
    proc, port, line = _start(queue, tmp_path / "l.csv", "--annotator", "bo")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert "/?annotator=bo" in line
