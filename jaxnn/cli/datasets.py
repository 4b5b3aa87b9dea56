"""``--dataset NAME`` and ``--data PATH``: what the commands train and evaluate on.

* ``--dataset NAME`` (a name in :data:`jaxnn.data.DATASETS`) alone: that dataset from its
  default place (``mnist``: the bundled 5,000-digit sample);
* ``--dataset NAME --data DIR``: that dataset read from ``DIR``;
* ``--data PATH`` alone: a folder of IDX files (images of any size) or an ``.npz`` file;
* neither: ``mnist``, the bundled sample.

Everything is read with :func:`jaxnn.data.load`. Its errors become messages about the
flags (exit 2): a missing Fashion-MNIST says ``apt-get install dataset-fashion-mnist`` or
``--data DIR``, never a Python call.
"""

from __future__ import annotations

import difflib
import re

from jaxnn.cli import flags

DEFAULT = "mnist"
# The split monitored each epoch, by one name everywhere: the bar, the table, the figure,
# summary.json. "test" when it is the test set, "validation" when carved from training.
TEST, VALIDATION = "test", "validation"


def names() -> tuple[str, ...]:
    """The dataset names, from :data:`jaxnn.data.DATASETS` (the single source)."""
    from jaxnn import data

    return tuple(data.DATASETS)


def add_arguments(p, *, default_text: str = f"{DEFAULT}, the bundled 5,000-digit sample"
                  ) -> None:
    """``--dataset`` and ``--data`` on the parser ``p``."""
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help=f"one of: {flags.names(names())} (default {default_text}); with "
                   "--data DIR, that dataset read from DIR")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="a folder of IDX files (train/t10k images and labels, raw or .gz, "
                   "images of any size) or an .npz file (x_train, y_train, x_test, y_test[, "
                   "classes]) (default: none, the --dataset)")


def check(args) -> None:
    """``--dataset`` is a known name (ValueError listing them), before any JAX work."""
    name = getattr(args, "dataset", None)
    if name is None or name in names():
        return
    close = difflib.get_close_matches(str(name).lower().replace("_", "-"), names(), n=1)
    fix = f"--dataset {close[0]}" if close else f"--dataset {names()[0]}"
    raise ValueError(
        f"unknown dataset {name!r}; expected one of: {flags.names(names())}. Fix: {fix}, or "
        "--data PATH for a folder of IDX files or an .npz file.")


def source(args) -> tuple[str | None, str | None]:
    """``(dataset, path)`` the flags name: ``(name, None)``, ``(name, DIR)`` or
    ``(None, PATH)``."""
    dataset, path = getattr(args, "dataset", None), getattr(args, "data", None)
    if dataset is None and path is None:
        dataset = DEFAULT
    return dataset, path


def load(args):
    """The :class:`jaxnn.data.TrainTest` of ``--dataset``/``--data`` (see the module doc).

    Raises FileNotFoundError (files missing: the message says how to get them) and
    ValueError (a bad file, an unknown name), each naming the flags.
    """
    from jaxnn import data

    check(args)
    dataset, path = source(args)
    try:
        return data.load(dataset, path) if dataset is not None else data.load(path)
    except FileNotFoundError as e:
        raise FileNotFoundError(_missing(str(e), dataset, path)) from None
    except ValueError as e:
        raise ValueError(_for_flags(str(e), dataset)) from None


# Python advice in the loaders' messages, and what the command line says instead.
_PYTHON_ADVICE = (
    (", or read one file with read_idx", ""),
    ("for a single IDX file use read_idx; for the dataset, pass its folder",
     "--data takes the folder that holds the IDX files"),
)


def _for_flags(text: str, dataset: str | None) -> str:
    """A loader's message without its function name or Python advice, starting with the
    flag when a dataset was named."""
    text = re.sub(r"^load_[a-z_]+: ", "", text)
    for python, flag in _PYTHON_ADVICE:
        text = text.replace(python, flag)
    return f"--dataset {dataset}: {text}" if dataset else text


def _missing(text: str, dataset: str | None, path: str | None) -> str:
    """The loader's FileNotFoundError, told with flags instead of Python calls."""
    what = _for_flags(text.split(" Fix:")[0], dataset).rstrip(".")
    if dataset == "fashion-mnist":
        fix = ("apt-get install dataset-fashion-mnist (as root, on Debian or Ubuntu), or "
               "download the four files from https://github.com/zalandoresearch/fashion-mnist "
               "and pass their folder: --dataset fashion-mnist --data DIR")
    elif dataset is not None:
        fix = (f"download the four {dataset} files and pass their folder with --dataset "
               f"{dataset} --data DIR" + (", or leave out --data for the bundled sample"
                                          if dataset == DEFAULT else ""))
    else:
        fix = ("--data takes a folder of IDX files or an .npz file; or use --dataset NAME, "
               f"one of: {flags.names(names())}")
    return f"{what}. Fix: {fix}."


def split_name(val_size: int) -> str:
    """The name of the split monitored each epoch: "test" or "validation"."""
    return VALIDATION if val_size else TEST


def describe(tt) -> dict:
    """What config.json records about the data (class names, input shape, …)."""
    return {"dataset": tt.name, "source": str(tt.source), "classes": list(tt.classes),
            "input_shape": list(tt.input_shape), "n_in": tt.n_in, "n_out": tt.n_out,
            "train_examples": len(tt.x_train), "test_examples": len(tt.x_test)}


def fit_network(sizes, tt, flag: str = "--sizes") -> tuple[int, ...]:
    """``sizes`` (or, when ``None``, ``n_in,256,n_out`` from the data), checked against
    the data: ValueError naming the flag when n_0 or n_L disagrees."""
    if sizes is None:
        return (tt.n_in, 256, tt.n_out)
    sizes = tuple(sizes)
    if sizes[0] != tt.n_in or sizes[-1] != tt.n_out:
        middle = ",".join(map(str, sizes[1:-1])) or "…"
        what = tt.name or "the data"
        shape = "×".join(map(str, tt.input_shape)) or str(tt.n_in)
        raise ValueError(
            f"the data and the network sizes disagree: {what} has {tt.n_in} inputs "
            f"({shape}) and {tt.n_out} classes, the network {flags.dashed(sizes)} has "
            f"n_0 = {sizes[0]} and n_L = {sizes[-1]}. Fix: {flag} "
            f"{tt.n_in},{middle},{tt.n_out}, or leave out {flag} for "
            f"{tt.n_in},256,{tt.n_out}.")
    return sizes
