"""``jaxnn evaluate``: a checkpoint's accuracy and cost on a test set, per class, with
pictures.

Prints the overall accuracy and cost, then one line per class (its name, its accuracy,
how many of its examples were right). Writes ``confusion.png`` (class names on the axes)
and, when the inputs are images, ``misclassified.png`` (the most confidently wrong test
examples, drawn with the run's ``input_shape``) into the run directory, or ``--out``.

The data is the run's (config.json's ``--dataset``/``--data``) unless ``--dataset`` or
``--data`` is given; the class names are the run's, or the data's.
"""

from __future__ import annotations

import pathlib
import warnings

from jaxnn.cli import datasets, flags, rundir, user

HELP = "report a checkpoint's accuracy per class, with a confusion matrix"
DESCRIPTION = ("Load a checkpoint (a checkpoint.safetensors, or a run directory holding one) "
               "and report its accuracy and cost on the test set of its data, overall and per "
               "class; write confusion.png and misclassified.png into the run directory (or "
               "--out).")
WORST = 24


def add_arguments(p) -> None:
    """The flags of ``jaxnn evaluate``."""
    p.add_argument("checkpoint", help=f"a {rundir.CHECKPOINT} (or a run directory)")
    datasets.add_arguments(p, default_text="the run's own data")
    p.add_argument("--out", default=None, help="folder for confusion.png and "
                   "misclassified.png (default: the run directory of the checkpoint; "
                   "created if missing)")
    p.add_argument("--worst", type=int, default=WORST, help="misclassified examples to draw "
                   "(default %(default)s; 0: no misclassified.png)")


def _run_config(path: pathlib.Path, ckpt) -> dict:
    """The run's config: its config.json beside the checkpoint, or the checkpoint's own."""
    config = rundir.read_json(path.parent / rundir.CONFIG, {})
    if config.get("format") != rundir.FORMAT:
        config = (ckpt.metadata or {}).get("config", {}) or {}
    return config if isinstance(config, dict) else {}


def _data_flags(args, config: dict) -> None:
    """``--dataset``/``--data`` left out: the run's (a run from before --dataset with a
    --data folder was full MNIST)."""
    if args.dataset is not None or args.data is not None:
        return
    saved = config.get("flags", {})
    args.dataset, args.data = saved.get("dataset"), saved.get("data")
    if args.dataset is None and args.data is not None and "dataset" not in saved:
        args.dataset = datasets.DEFAULT


def _out_folder(args, path: pathlib.Path) -> pathlib.Path | None:
    """Where the figures go: ``--out`` (made if missing), the checkpoint's run directory,
    or None (a checkpoint outside a run directory, without --out)."""
    if args.out is not None:
        out = pathlib.Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {args.out} is a file; the figures go into a folder. Fix: "
                             "choose another --out.")
        out.mkdir(parents=True, exist_ok=True)
        return out
    return path.parent if rundir.holds_run(path.parent) else None


# What Network.from_dict assumes for a record written before these fields existed.
_RECORD_DEFAULTS = {"dropout": 0.0, "norm": None, "residual": False}


def _record(network: dict) -> dict:
    """A network record to compare: the defaults filled in, user components by name and
    import path (their fingerprints are checked when the checkpoint is loaded)."""
    def plain(entry):
        return {k: v for k, v in entry.items() if k != "fingerprint"} \
            if isinstance(entry, dict) else entry

    record = {**_RECORD_DEFAULTS, **network}
    acts = record.get("activations")
    record["activations"] = [plain(a) for a in acts] if isinstance(acts, list) else acts
    record["cost"] = plain(record.get("cost"))
    return record


def check_config(path: pathlib.Path, net, config: dict) -> None:
    """ValueError when the run's config.json beside the checkpoint records another network
    than the checkpoint holds (one of the two files was edited, or they come from two
    runs): its numbers would belong to neither."""
    if config.get("format") != rundir.FORMAT or not isinstance(config.get("network"), dict):
        return
    ours, theirs = _record(net.to_dict()), _record(config["network"])
    differ = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    if differ:
        shown = "; ".join(f"{k} {ours.get(k)!r} in the checkpoint, {theirs.get(k)!r} in "
                          f"{rundir.CONFIG}" for k in differ)
        raise ValueError(
            f"{path} and the {rundir.CONFIG} beside it record different networks: {shown}. "
            "One of the two files was edited, or they come from different runs. Fix: "
            f"evaluate a checkpoint with the {rundir.CONFIG} of the run that wrote it (or "
            "restore the edited file).")


def checkpoint_path(path: pathlib.Path) -> pathlib.Path:
    """The checkpoint file of ``path`` (a file, or a run directory holding one);
    FileNotFoundError saying what the folder is when it holds none."""
    if not path.is_dir():
        return path
    if (path / rundir.CHECKPOINT).exists() or not path.exists():
        return path / rundir.CHECKPOINT
    if rundir.holds_sweep(path):
        raise FileNotFoundError(
            f"{path} is a jaxnn sweep, which keeps no parameters to evaluate (its results "
            f"are {rundir.RUNS_CSV} and {rundir.SUMMARY_MD}). Fix: train the run you want "
            "with jaxnn train and the setting's --lr, --l2 and --seed, then evaluate that "
            "run directory.")
    if rundir.holds_run(path):
        raise FileNotFoundError(
            f"{path} holds a jaxnn run that stopped before its first epoch ended: there is "
            f"no {rundir.CHECKPOINT} to evaluate. Fix: train it again (jaxnn train --force "
            f"--out {path}).")
    raise FileNotFoundError(
        f"{path} holds no jaxnn run (no {rundir.CHECKPOINT}). Fix: give a run directory "
        f"that jaxnn train wrote (e.g. runs/<timestamp>-<random>) or a {rundir.CHECKPOINT} "
        "file.")


def check(args) -> None:
    """The flags, before any JAX work."""
    flags.integer(args, "worst", minimum=0, maximum=10_000, fix="e.g. --worst 24")
    datasets.check(args)


def run(args) -> int:
    """``jaxnn evaluate CHECKPOINT``: see the module docstring."""
    check(args)
    import jax
    import numpy as np

    from jaxnn import train

    path = checkpoint_path(pathlib.Path(args.checkpoint))
    beside = rundir.read_json(path.parent / rundir.CONFIG, {})
    with jax.enable_x64(True):  # a float64 checkpoint loads as float64, float32 as float32
        ckpt = user.load_checkpoint(path, beside, "evaluate")
    check_config(path, ckpt.net, beside)
    config = _run_config(path, ckpt)
    other = _other_data(args, config)
    _data_flags(args, config)
    out = _out_folder(args, path)
    with jax.enable_x64(ckpt.params[0].W.dtype == np.float64):
        tt = datasets.load(args)
        net = ckpt.net
        if net.n_in != tt.n_in or net.n_out != tt.n_out:
            raise ValueError(
                f"the checkpoint's network {flags.dashed(net.sizes)} does not fit the data: "
                f"{tt.name} has {tt.n_in} inputs and {tt.n_out} classes. Fix: --dataset NAME "
                "or --data PATH for the data the network was trained on.")
        result = train.evaluate(net, ckpt.params, tt.x_test, tt.y_test)
        probabilities = _scores(net, ckpt.params, tt.x_test)
    saved_data = config.get("data", {})
    classes = list(tt.classes)  # the data's names; the run's when the data has only numbers
    recorded = saved_data.get("classes") or []
    if classes == [str(i) for i in range(tt.n_out)] and len(recorded) == tt.n_out:
        classes = [str(c) for c in recorded]
    shape = tuple(saved_data.get("input_shape") or tt.input_shape)
    y = np.asarray(tt.y_test)
    predicted = probabilities.argmax(axis=1)
    k = tt.n_out
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (y, predicted), 1)
    print(f"{path}: epoch {ckpt.step}, test accuracy {result['accuracy']:.4f}, test cost "
          f"{result['cost']:.4f} on {flags.plural(len(y), 'example')} of {tt.name}")
    _per_class(matrix, classes)
    if other and args.out is None and out is not None:
        print(f"no figures: {out} keeps its own {rundir.CONFUSION} and "
              f"{rundir.MISCLASSIFIED}, of the run's data. Fix: --out DIR for those of "
              f"{tt.name}.")
        return 0
    _figures(args, out, matrix, classes, tt, y, predicted, probabilities, shape)
    return 0


def _other_data(args, config: dict) -> bool:
    """Whether ``--dataset``/``--data`` name other data than the run was trained on (a
    warning says so: the numbers are of that data, not the run's test set)."""
    saved = config.get("flags", {}) if isinstance(config.get("flags"), dict) else {}
    given = (args.dataset, args.data)
    if given == (None, None) or not saved:
        return False
    trained = (saved.get("dataset"), saved.get("data"))
    if given == trained or (args.data is None and args.dataset == trained[0]):
        return False
    shown = " ".join(f"--{k} {v}" for k, v in zip(("dataset", "data"), trained, strict=True)
                     if v is not None) or "its default data"
    warnings.warn(f"the run was trained on {shown}; these numbers are of the data given "
                  "instead, not of the run's test set.", stacklevel=2)
    return True


def _scores(net, params, x):
    """The network's output activations (the class scores) for ``x``, in chunks."""
    import jax.numpy as jnp
    import numpy as np

    import jaxnn

    dtype = params[0].W.dtype
    return np.concatenate([np.asarray(jaxnn.forward(net, params, jnp.asarray(
        x[i:i + 4096], dtype))) for i in range(0, len(x), 4096)])


def _per_class(matrix, classes: list[str]) -> None:
    """One line per class: name, accuracy, right of total."""
    labels = [name if name == str(i) else f"{i} {name}" for i, name in enumerate(classes)]
    width = max(len(label) for label in labels)
    print("per class:")
    for i, label in enumerate(labels):
        total = int(matrix[i].sum())
        right = int(matrix[i, i])
        accuracy = f"{right / total:.4f}" if total else "—"
        print(f"  {label:<{width}}  accuracy {accuracy}  ({right:,} of {total:,})")


def _is_image(shape) -> bool:
    return len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4))


def _figures(args, out, matrix, classes, tt, y, predicted, probabilities, shape) -> None:
    """confusion.png and misclassified.png into ``out``, or a note why not."""
    import numpy as np

    from jaxnn.cli import plots

    if out is None:
        print("no figures: the checkpoint is not in a run directory. Fix: --out DIR for "
              f"{rundir.CONFUSION} and {rundir.MISCLASSIFIED}.")
        return
    if not plots.confusion(matrix, classes, out / rundir.CONFUSION):
        print(f"no {rundir.CONFUSION} or {rundir.MISCLASSIFIED}: install the 'plot' extra, "
              "matplotlib.")
        return
    wrote = [rundir.CONFUSION]
    wrong = np.flatnonzero(predicted != y)
    if args.worst and len(wrong) and _is_image(shape):
        confidence = probabilities[wrong, predicted[wrong]]
        order = wrong[np.argsort(-confidence, kind="stable")][: args.worst]
        draw = shape[:2] if len(shape) == 3 and shape[-1] == 1 else shape
        plots.misclassified(tt.x_test[order], y[order], predicted[order],
                            probabilities[order, predicted[order]], classes,
                            out / rundir.MISCLASSIFIED, draw)
        wrote.append(rundir.MISCLASSIFIED)
    elif not _is_image(shape):
        print(f"no {rundir.MISCLASSIFIED}: the inputs are not images (input shape "
              f"{'×'.join(map(str, shape)) or '?'}).")
    print(f"wrote {', '.join(str(out / name) for name in wrote)}")
