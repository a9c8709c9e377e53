"""``seral reduce`` over tables: fit or load a reducer, replace the features, record how."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seraltools.errors import BadInput, first_line
from seraltools.models import load_model, save_model
from seraltools.reduce import PCA, TSNE, AutoEncoder, check_dim
from seraltools.table import feature_matrix, history_entry, metadata, set_features, stamp

DEFAULT_DIM = {"pca": 32, "ae": 32, "tsne": 2}


def reduce(table: pa.Table, method: str, dim: int | None = None, *, standardize: bool | None = None,
                 seed: int = 0, options: dict | None = None, model: str | None = None,
                 save_to: str | None = None, source: str = "table", quiet: bool = True) -> tuple[pa.Table, str]:
    """Returns (table with reduced features, one-line summary)."""
    from seraltools.progress import progress

    options = options or {}
    x = feature_matrix(table, source)
    meta = metadata(table)
    in_feature = meta.get("feature", "features")
    params: dict = {"input_dim": x.shape[1]}
    if model:
        header, tensors = load_model(model)
        kind, config = header["kind"], header["config"]
        if kind not in DEFAULT_DIM:
            raise BadInput(f"{model}: a {kind!r} model is not a reducer; give a pca, ae or tsne model")
        if config.get("input_dim") not in (None, x.shape[1]):
            raise BadInput(f"{model}: fitted on {config['input_dim']}-dim features, {source} has {x.shape[1]}")
        try:
            reducer = {"pca": lambda: PCA.from_tensors(config, tensors),
                       "ae": lambda: AutoEncoder.from_tensors(config, tensors, x.shape[1], name=str(model)),
                       "tsne": lambda: TSNE.from_tensors(config, tensors)}[kind]()
            y = reducer.transform(x)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:  # fields missing, mistyped, misshapen
            raise BadInput(f"{model}: damaged {kind} model file: its config or tensors do not fit "
                           f"({type(e).__name__}: {first_line(e)})") from None
        method, dim = kind, y.shape[1]
        params.update(model=model, method=kind)
        params.update({k: v for k, v in config.items() if k not in ("input_dim", "model", "method")})
        summary = f"applied {kind} model {model}: {x.shape[1]} -> {dim} dims"
    else:
        dim = dim or DEFAULT_DIM[method]
        std = (method != "tsne") if standardize is None else standardize
        params.update(method=method, dim=dim, standardize=std, seed=seed)
        if method == "pca":
            reducer = PCA(dim, std).fit(x)
            y = reducer.transform(x)
            explained = float(reducer.explained_variance_ratio_.sum())
            params["explained_variance"] = explained
            summary = f"PCA {x.shape[1]} -> {dim} dims ({explained:.1%} of the variance)"
        elif method == "ae":
            check_dim(dim, x)
            reducer = AutoEncoder(dim, hidden=options.get("hidden", 512), dropout=options.get("dropout", 0.1),
                                  lr=options.get("lr", 1e-4), batch_size=options.get("batch_size", 1024),
                                  patience=options.get("patience", 300), max_epochs=options.get("epochs", 5000),
                                  standardize=std, seed=seed, device=options.get("device", "auto"))
            with progress(reducer.max_epochs, "reduce ae", quiet=quiet, unit="epoch") as advance:
                reducer.fit(x, progress=lambda epoch, val: advance(1), checkpoint=options.get("checkpoint"),
                            resume=options.get("resume", False))
            y = reducer.transform(x)
            epochs_run, best = len(reducer.history_), reducer.best_epoch_
            params.update({k: v for k, v in reducer.config().items() if k not in params},
                          epochs_run=epochs_run, best_epoch=best, best_val_mse=reducer.history_[best - 1][2])
            summary = (f"autoencoder {x.shape[1]} -> {dim} dims, best validation MSE "
                       f"{reducer.history_[best - 1][2]:.4f} at epoch {best} of {epochs_run}")
        elif method == "tsne":
            check_dim(dim, x)
            reducer = TSNE(dim, engine=options.get("engine", "opentsne"), perplexity=options.get("perplexity", 30.0),
                           standardize=std, seed=seed, workers=options.get("workers", 1))
            y = reducer.fit_transform(x)
            params.update(engine=reducer.engine, perplexity=reducer.perplexity)
            summary = f"t-SNE ({reducer.engine}) {x.shape[1]} -> {dim} dims"
        else:
            raise BadInput(f"--method {method!r}: choose pca, ae or tsne")
        if save_to:
            if method == "tsne" and (reducer.engine != "opentsne" or dim > 2):
                raise BadInput("--save-model for t-SNE needs --tsne opentsne and --dim 2 (openTSNE places new points)")
            config = {**(reducer.config() if hasattr(reducer, "config") else {"dim": dim, "standardize": std}),
                      "input_dim": x.shape[1], "input_feature": in_feature}
            save_model(save_to, method, reducer.tensors(), config)
            params["saved_model"] = save_to
            summary += f", model -> {save_to}"
    out = set_features(table, np.asarray(y, dtype=np.float32))
    entry = history_entry("reduce", params, [{"table": source, "rows": len(x)}])
    return stamp(out, entry, parent=meta, feature=f"{in_feature}-{method}{dim}"), summary
