"""The tools: what each ``seral`` command does, as Python functions over tables.

A command (``seraltools/cli/<tool>.py``) parses its options, reads its inputs, calls
its tool here and writes what the tool returns. A tool takes tables (``pyarrow.Table``)
and settings and returns a table with a summary; it prints nothing and writes no file,
except where writing is the tool's work (``pretrain`` and ``train_cpc`` write the model,
its checkpoint and log as they go, for ``--resume``; ``reduce`` saves or loads the fitted
reducer when asked). The tools call the method modules, which work on arrays in the
papers' terms. docs/api.md has an example per tool.

=============================  ==================================================
 module                        functions (command)
=============================  ==================================================
 :mod:`.extract`               ``extract`` (extract)
 :mod:`.segment`               ``segment`` (segment)
 :mod:`.info`                  ``summarize``, ``format_summary`` (info)
 :mod:`.mal_select`            ``mal_select`` (mal-select), ``cluster_labels`` (cluster-labels)
 :mod:`.predict`               ``predict`` (predict)
 :mod:`.reduce`                ``reduce`` (reduce)
 :mod:`.speakers`              ``cluster_speakers`` (cluster-speakers)
 :mod:`.evaluate`              ``evaluate_al``, ``evaluate_clusters``, ``evaluate_ser`` (evaluate ...)
 :mod:`.pretrain`              ``pretrain`` (pretrain), ``train_cpc`` (train-cpc)
=============================  ==================================================

``seral annotate`` and ``export-tasks`` (a web server and its answer log) live in
:mod:`seraltools.annotate`; ``seral synth`` (it writes a corpus of WAVs) in
:mod:`seraltools.synth`.
"""
