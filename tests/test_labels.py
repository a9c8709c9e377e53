"""Several raters: agreement measures, aggregation of answers into labels, `seral labels`,
and the annotate server's raters, stale answers, skips, scales and blind state."""

from __future__ import annotations

import csv
import json
import threading

import pyarrow as pa
import pytest

from seraltools.agreement import ccc, fleiss_kappa, krippendorff_alpha
from seraltools.annotate import AnswerLog, Annotation, make_server, parse_scheme, queue_items
from seraltools.errors import BadInput
from seraltools.labels import aggregate, read_labels
from seraltools.table import read_table

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the worked example:
# 4 observers x 12 units, values 1-5, None = missing. Published: nominal 0.743, interval 0.849.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
# Fleiss (1971) as tabulated on Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters,
# 5 categories; rows = how many raters chose each category. Published kappa 0.210.
FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
          [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_krippendorff_alpha_on_the_published_example():
    units = [[K2011[r][u] for r in range(4)] for u in range(12)]
    assert krippendorff_alpha(units, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(units, "interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha([[1, 1], [2, 2], [1, 1]]) == pytest.approx(1.0)
    assert krippendorff_alpha([[1, 1], [1, 1]]) is None and krippendorff_alpha([[1], [2]]) is None


def test_krippendorff_alpha_equals_the_reference_package():
    kd = pytest.importorskip("krippendorff", reason="the krippendorff package is not installed")
    import numpy as np

    rng = np.random.default_rng(0)
    data = rng.integers(0, 4, size=(3, 40)).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    units = [[None if np.isnan(v) else v for v in data[:, u]] for u in range(40)]
    for level in ("nominal", "interval"):
        assert krippendorff_alpha(units, level) == pytest.approx(
            kd.alpha(reliability_data=data, level_of_measurement=level), abs=1e-9)


def test_fleiss_kappa_on_the_published_example():
    units = [[c for c, n in enumerate(row) for _ in range(n)] for row in FLEISS]
    kappa, used = fleiss_kappa(units)
    assert used == 10 and kappa == pytest.approx(0.210, abs=5e-4)


def test_ccc():
    assert ccc([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert ccc([1, 2, 3, 4], [2, 3, 4, 5]) == pytest.approx(2 * 1.25 / (1.25 + 1.25 + 1), abs=1e-12)


def _log(rows):
    """An answer log: rows of (id, emotion, annotator); times in file order."""
    return pa.table({"id": [r[0] for r in rows], "emotion": [r[1] for r in rows],
                     "annotator": [r[2] for r in rows], "time": [f"t{i:03d}" for i in range(len(rows))]})


def test_aggregate_majority_ties_annotator_last_and_soft():
    t = _log([("a", "anger", "x"), ("a", "anger", "y"), ("a", "sadness", "z"),  # majority anger
              ("b", "anger", "x"), ("b", "sadness", "y"),  # a tie: the later answer, sadness
              ("c", "fear", "x"), ("c", "joy", "x")])  # x changed their mind: joy
    notes = []
    out = aggregate(t, "auto", notes=notes)
    got = dict(zip(out.column("id").to_pylist(), out.column("emotion").to_pylist()))
    assert got == {"a": "anger", "b": "sadness", "c": "joy"}
    assert dict(zip(out.column("id").to_pylist(), out.column("raters").to_pylist())) == {"a": 3, "b": 2, "c": 1}
    assert len(notes) == 1 and "1 of 3 ids tied" in notes[0]
    last = aggregate(t, "last")
    assert dict(zip(last.column("id").to_pylist(), last.column("emotion").to_pylist()))["a"] == "sadness"
    y = aggregate(t, "y")
    assert dict(zip(y.column("id").to_pylist(), y.column("emotion").to_pylist())) == {"a": "anger", "b": "sadness"}
    with pytest.raises(BadInput, match="no answer by nobody .*annotators: x, y, z"):
        aggregate(t, "nobody")
    soft = aggregate(t, "soft")
    row = soft.to_pylist()[soft.column("id").to_pylist().index("a")]
    assert row["emotion=anger"] == pytest.approx(2 / 3) and row["emotion=sadness"] == pytest.approx(1 / 3)
    from seraltools.labels import label_columns

    assert label_columns(soft.drop_columns(["emotion"]).append_column("mood", pa.array(["m"] * 3)), None, "t") == ["mood"]


def test_scales_come_back_as_numbers_even_valence(tmp_path):
    scheme = parse_scheme(None, ["anger,sadness"], ["valence=1:5", "dominance=1:5"])
    log = AnswerLog(tmp_path / "l.csv", scheme)
    assert log.header == ["id", "emotion", "valence[1:5]", "dominance[1:5]", "status", "note", "annotator", "time"]
    log.append("a", {"emotion": "anger", "valence": "1", "dominance": "4"}, "x")
    log.append("a", {"emotion": "anger", "valence": "4", "dominance": "5"}, "y")
    log.append("b", {"emotion": "sadness", "valence": "2", "dominance": "1"}, "x", status="unsure", note="noisy\nline")
    t = read_labels(tmp_path / "l.csv")
    rows = {r["id"]: r for r in t.to_pylist()}
    assert rows["a"]["valence"] == pytest.approx(2.5) and rows["a"]["dominance"] == pytest.approx(4.5)
    assert t.schema.field("valence").type == pa.float64() and rows["b"]["emotion"] == "sadness"
    assert list(csv.DictReader(open(tmp_path / "l.csv")))[2]["note"] == "noisy line"  # one line per answer
    major = read_labels(tmp_path / "l.csv", "x")
    assert {r["id"]: r["valence"] for r in major.to_pylist()} == {"a": 1.0, "b": 2.0}
    for bad in ("valence=1:12", "valence", "valence=a:b", "rank=1:5"):
        with pytest.raises(BadInput, match="--scale"):
            parse_scheme(None, ["a,b"], [bad])


@pytest.fixture
def served(tmp_path, request):
    """A server over the synthetic queue: (annotation, port, labels path); request.param = kwargs."""
    from tests.test_annotate import CHOICES

    queue = request.getfixturevalue("queue")
    kw = getattr(request, "param", {})
    items = queue_items(read_table(queue), "q", kw.get("show"))
    scheme = parse_scheme(None, [CHOICES], kw.get("scale"))
    labels = tmp_path / "labels.csv"
    ann = Annotation(items, scheme, AnswerLog(labels, scheme), raters=kw.get("raters", 1), show=kw.get("show"))
    srv = make_server(ann, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield ann, srv.server_address[1], labels
    srv.shutdown()
    srv.server_close()


from tests.test_annotate import queue, request  # noqa: E402,F401  (the module's queue fixture; its HTTP helper)


def _post(port, body):
    status, data = request(port, "POST", "/api/answer", body)
    return status, json.loads(data)


def _state(port, who):
    return json.loads(request(port, "GET", f"/api/state?annotator={who}")[1])


@pytest.mark.parametrize("served", [{"raters": 2}], indirect=True)
def test_two_raters_stale_tabs_and_skips(served):
    ann, port, labels = served
    assert _state(port, "x")["done"] == []
    assert _post(port, {"annotator": "x", "item": 0, "values": {"emotion": "anger"}, "version": 0})[0] == 200
    assert _state(port, "y")["done"] == []  # one rater of two: still to do for y
    assert _post(port, {"annotator": "y", "item": 0, "values": {"emotion": "sadness"},
                        "version": 0})[0] == 200
    assert _state(port, "z")["done"] == [0]  # two raters: done, z's page goes past it
    # a second tab of x that loaded the page before x's answer: refused, nothing written
    status, data = _post(port, {"annotator": "x", "item": 0, "values": {"emotion": "neutral"}, "version": 0})
    assert status == 409 and data["stale"] and "another tab" in data["error"]
    state = _state(port, "x")
    assert state["versions"]["0"] == 1 and state["answers"]["0"]["values"] == {"emotion": "anger"}
    assert _post(port, {"annotator": "x", "item": 0, "values": {"emotion": "neutral"}, "version": 1})[0] == 200
    assert _post(port, {"annotator": "x", "item": 1, "status": "skip", "version": 0})[0] == 200
    assert _post(port, {"annotator": "x", "item": 2, "status": "unsure", "values": {"emotion": "anger"},
                        "note": "laughs?"})[0] == 200
    rows = list(csv.DictReader(open(labels)))
    assert [(r["emotion"], r["status"], r["annotator"]) for r in rows] == [
        ("anger", "answer", "x"), ("sadness", "answer", "y"), ("neutral", "answer", "x"), ("", "skip", "x"),
        ("anger", "unsure", "x")]
    assert "1" not in _state(port, "x")["answers"]  # a skip is not an answer
    t = read_labels(labels)
    assert ann.items[1].id not in t.column("id").to_pylist()


@pytest.mark.parametrize("served", [{}], indirect=True)
def test_blind_by_default(served):
    ann, port, _ = served
    body = request(port, "GET", "/api/state?annotator=x")[1].decode()
    assert not any(it.id in body for it in ann.items) and not any(str(it.speaker) in body for it in ann.items if it.speaker)


@pytest.mark.parametrize("served", [{"show": ["id"]}], indirect=True)
def test_show_names_the_columns_the_page_shows(served):
    ann, port, _ = served
    assert [it["shown"] for it in _state(port, "x")["items"]] == [{"id": it.id} for it in ann.items]


def test_changed_choices_on_an_existing_labels_file_are_refused(tmp_path, queue):
    items = queue_items(read_table(queue), "q")
    log = AnswerLog(tmp_path / "l.csv", ["emotion"])
    log.append(items[0].id, {"emotion": "fear"}, "x")
    with pytest.raises(BadInput, match="holds emotion 'fear'.*give the same --choices"):
        Annotation(items, parse_scheme(None, ["anger,sadness"]), log)


def test_labels_command_reports_agreement(cli, tmp_path):
    path = tmp_path / "l.csv"
    log = AnswerLog(path, ["emotion"])
    for uid, x, y in (("a", "anger", "anger"), ("b", "sadness", "sadness"), ("c", "anger", "sadness"),
                      ("d", "neutral", "neutral")):
        log.append(uid, {"emotion": x}, "x")
        log.append(uid, {"emotion": y}, "y")
    log.append("e", {}, "y", status="skip")
    res = cli("labels", path, "--json")
    assert res.exit_code == 0, res.stderr
    r = json.loads(res.stdout)
    e = r["columns"]["emotion"]
    units = [["anger", "anger"], ["sadness", "sadness"], ["anger", "sadness"], ["neutral", "neutral"]]
    assert e["alpha_nominal"] == pytest.approx(krippendorff_alpha(units)) and e["conflicts"] == 1
    assert e["conflict_examples"] == ["c"] and r["annotators"]["y"]["skips"] == 1
    assert e["per_annotator"]["x"] == {"anger": 2, "neutral": 1, "sadness": 1}
    res = cli("labels", "-q", path, tmp_path / "out.parquet", "--aggregate", "x")
    assert res.exit_code == 0 and res.stderr == ""
    out = read_table(tmp_path / "out.parquet")
    assert dict(zip(out.column("id").to_pylist(), out.column("emotion").to_pylist()))["c"] == "anger"
    res = cli("labels", path)
    assert "Krippendorff's alpha (nominal)" in res.stdout and "1 with different answers (e.g. c)" in res.stdout


def test_a_labels_csv_with_bytes_that_are_not_utf8_is_one_line(cli, tmp_path):
    """M7 (readers): every reader of labels says which row and column, exit 2."""
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,emotion,status,note,annotator,time\nx,anger,answer,,a,2026-01-01T00:00:00.000Z\n"
                    b"y,\xff\xfeanger,answer,,a,2026-01-01T00:00:01.000Z\n")
    res = cli("labels", bad)
    assert res.exit_code == 2 and "row 2, column emotion: not UTF-8" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_binary_valence_from_a_scale_midpoint(cli, tmp_path):
    scheme = parse_scheme(None, None, ["valence=1:5", "arousal=1:9"])
    log = AnswerLog(tmp_path / "l.csv", scheme)
    for uid, v, a in (("a", "1", "9"), ("b", "3", "5"), ("c", "5", "2")):
        log.append(uid, {"valence": v, "arousal": a}, "x")
    res = cli("labels", "-q", tmp_path / "l.csv", tmp_path / "b.parquet", "--binary", "valence", "--binary", "arousal=4")
    assert res.exit_code == 0, res.stderr
    t = read_table(tmp_path / "b.parquet")
    assert t.column("valence").to_pylist() == [0, None, 1] and t.column("arousal").to_pylist() == [1, 1, 0]
    assert t.schema.field("valence").type == pa.int8()
    res = cli("labels", tmp_path / "l.csv", tmp_path / "b.parquet", "--binary", "mood")
    assert res.exit_code == 2 and "no scale column mood" in res.stderr


@pytest.mark.parametrize("served", [{}], indirect=True)
def test_a_retried_answer_is_kept_once_and_another_is_stale(served):
    """The page retries a post whose reply was lost with the same version: the same answer
    is taken as kept (not written twice); a different one is refused as stale."""
    ann, port, labels = served
    body = {"annotator": "x", "item": 0, "values": {"emotion": "anger"}, "version": 0}
    assert _post(port, body)[0] == 200
    status, data = _post(port, body)
    assert status == 200 and data["version"] == 1
    assert _post(port, dict(body, values={"emotion": "sadness"}))[0] == 409
    assert len(list(csv.DictReader(open(labels)))) == 1
