"""seral annotate and seral export-tasks: from the queue to people who label it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Quiet, tool

Queue = Annotated[str, typer.Argument(help="Queue from mal-select (Parquet with id, path and rank); - for stdin.", metavar="QUEUE")]
Columns = Annotated[Optional[list[str]], typer.Option("--column", "-c", help="Label column; repeat for several, each with its own --choices (default: emotion).")]
Choices = Annotated[Optional[list[str]], typer.Option("--choices", help="The labels to choose from, comma-separated (e.g. anger,happiness,neutral,sadness); one --choices per --column.")]
Scales = Annotated[Optional[list[str]], typer.Option("--scale", help="Dimensional ratings NAME=LOW:HIGH, comma-separated (e.g. valence=1:5,arousal=1:5; 2-9 steps, keys 1-9), beside or instead of --choices.")]


def _items(queue: str, show: list[str] | None = None):
    from seraltools.annotate import queue_items
    from seraltools.table import read_table

    return queue_items(read_table(queue), "<stdin>" if queue == "-" else queue, show)


@tool(app, "annotate")
def annotate_cmd(
    queue: Queue,
    labels: Annotated[Path, typer.Argument(help="Labels file (CSV) the answers are appended to; created if absent, continued if present.", metavar="LABELS", dir_okay=False)],
    column: Columns = None,
    choices: Choices = None,
    scale: Scales = None,
    raters: Annotated[int, typer.Option("--raters", min=1, help="Annotators each utterance is asked of; an annotator's page goes past utterances that many others answered.")] = 1,
    show: Annotated[Optional[list[str]], typer.Option("--show", help="Queue column(s) the page shows (e.g. id, speaker); none by default: ids often give the emotion away.")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on; 0 = any free port.")] = 8000,
    annotator: Annotated[Optional[str], typer.Option("--annotator", help="Annotator name when the page's URL names none (?annotator=NAME); without it, such a page asks each person for a name.")] = None,
    token: Annotated[Optional[str], typer.Option("--token", help="Every request must carry this secret (in the printed link, then a cookie); made for you when --host is not this machine only.")] = None,
    quiet: Quiet = False,
) -> None:
    """Listen to the queue and label it in the browser; every answer is saved at once.

    Serves a page that walks the queue in rank order, plays each utterance (its span
    for a segment) and takes a label by button or key (1-9; Space plays, Left goes
    back, Right skips, u marks unsure). Blind: the page shows rank and duration, not
    the id, unless --show id. Each answer is appended to LABELS (id, label columns,
    status, note, annotator, time) and synced to disk before the page moves on:
    stopping the server (Ctrl-C) or a crash loses no saved answer. Started again it
    goes on at the first row the annotator has not answered. Several annotators: give
    each a URL with ?annotator=NAME; --raters R asks each utterance of R of them. An
    answer from a page that had not seen the item's latest answer (another tab) is
    refused. Read back with --aggregate (majority by default; `seral labels` reports
    agreement).

    Example: seral annotate queue.parquet labels.csv --choices anger,happiness,neutral,sadness
    """
    import signal

    from seraltools.annotate import AnswerLog, Annotation, check_annotator, make_server, parse_scheme, unreadable
    from seraltools.progress import log

    from seraltools.annotate import is_loopback

    scheme = parse_scheme(column, choices, scale)
    ask_name = annotator is None
    annotator = check_annotator("annotator" if annotator is None else annotator)
    if token is None and not is_loopback(host):  # other machines can reach it: only with the link
        import secrets

        token = secrets.token_urlsafe(18)
    items = _items(queue, show)
    server = make_server(None, host, port, annotator=annotator, token=token, ask_name=ask_name)  # the port first: a busy one leaves no file
    try:
        answers = AnswerLog(labels, scheme)
        annotation = server.annotation = Annotation(items, scheme, answers, raters=raters, show=show)
    except BaseException:
        server.server_close()
        raise
    url_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    query = [] if ask_name else [f"annotator={annotator}"]  # no name: the page asks each person for one
    if token:
        query.append(f"token={token}")
    url = f"http://{url_host}:{server.server_address[1]}/" + ("?" + "&".join(query) if query else "")
    done = len(answers.answers(annotator).keys() & annotation.by_id.keys())
    if answers.torn:
        log(f"seral annotate: {labels}: dropped a cut last line ({answers.torn} bytes, never saved)")
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a browser that drops an audio download must not kill us
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops it even when started in the background
    signal.signal(signal.SIGTERM, stop)  # kill, systemd: stop as Ctrl-C does
    signal.signal(signal.SIGHUP, stop)  # the terminal closed
    try:
        log(f"seral annotate: {len(items)} utterances, {done} answered by {annotator}; open {url} (Ctrl-C to stop)")
        bad = unreadable(items)  # after the link: scripts read the first line for it
        if bad:
            log(f"seral annotate: warning: {len(bad)} of {len(items)} queued files cannot be read (rank "
                f"{bad[0][0].rank}: {bad[0][1]}); the page says so at each, and they cannot be labelled")
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    if not quiet:
        everyone = answers.answers()
        mine = len(answers.answers(annotator).keys() & annotation.by_id.keys())
        log(f"seral annotate: {len(everyone.keys() & annotation.by_id.keys())} of {len(items)} utterances answered "
            f"by anyone ({mine} by {annotator}) -> {labels}")


@tool(app, "export-tasks")
def export_tasks_cmd(
    queue: Queue,
    output: Annotated[str, typer.Argument(help="Label Studio tasks (JSON); - for stdout.", metavar="OUTPUT")],
    url_prefix: Annotated[Optional[str], typer.Option("--url-prefix", help="Audio URL = this prefix + the file's path under --root (default: Label Studio's local-files URL).")] = None,
    root: Annotated[Optional[Path], typer.Option("--root", help="Directory the audio paths are made relative to (default: the deepest one above every file); Label Studio's LOCAL_FILES_DOCUMENT_ROOT.", file_okay=False)] = None,
    clips: Annotated[Optional[Path], typer.Option("--clips", help="Write segments and embedded rows (no file of their own) as WAV files into a folder of this queue's own in this directory.", file_okay=False)] = None,
    column: Columns = None,
    choices: Choices = None,
    scale: Scales = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Also write Label Studio's labelling config (XML) for --column/--choices here.", dir_okay=False)] = None,
    quiet: Quiet = False,
) -> None:
    """Write the queue as Label Studio tasks, in rank order.

    Each task's data holds audio (a URL), seral_id (the row's id, how labels come
    back) and rank (sort the Data Manager by it to label in queue order), and
    speaker where the queue has it. Label Studio's JSON, JSON-MIN and CSV exports of
    these tasks are read by cluster-labels, predict and mal-select --labelled.

    Example: seral export-tasks queue.parquet tasks.json --choices anger,happiness,neutral,sadness --config config.xml
    """
    import contextlib
    import json

    from seraltools.annotate import Clips, label_config, label_studio_tasks, parse_scheme
    from seraltools.progress import log
    from seraltools.table import atomic_path

    scheme = parse_scheme(column, choices, scale) if (choices or column or config or scale) else None
    with contextlib.nullcontext() if clips is None else Clips(str(clips)) as staged:  # no clips left by a failure
        tasks, base, storage = label_studio_tasks(_items(queue), url_prefix=url_prefix, root=None if root is None else str(root),
                                         clips=staged)
        text = json.dumps(tasks, indent=1, ensure_ascii=False) + "\n"
        if output == "-":
            import sys

            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            with atomic_path(output) as tmp:
                Path(tmp).write_text(text, encoding="utf-8")
        if staged is not None:
            staged.commit()
    if config is not None and scheme is not None:
        with atomic_path(config) as tmp:
            Path(tmp).write_text(label_config(scheme), encoding="utf-8")
    if not quiet:
        where = (f"audio under {url_prefix}" if url_prefix else
                 f"start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
                 f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={base} and add a Local Storage to the project with the "
                 f"path {storage} (a folder under the document root, as Label Studio requires; no sync needed)")
        log(f"seral export-tasks: {len(tasks)} tasks -> {output}; {where}")
