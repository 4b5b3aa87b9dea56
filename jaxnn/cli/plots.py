"""The CLI's figures (matplotlib, the ``plot`` extra; each function returns False and
writes nothing without it):

* :func:`learning_curve` (``jaxnn train``): cost (log scale) and accuracy per epoch,
  train and the monitored split, and a panel with the gradient norm and the learning
  rate; integer epoch ticks; the kept epoch marked and named;
* :func:`sweep_curves` (``jaxnn sweep``): the monitored accuracy and cost per epoch, a
  mean line and a ±1 std band per setting;
* :func:`confusion` and :func:`misclassified` (``jaxnn evaluate``).

Every PNG is written to a temporary file in its folder and renamed over the old one.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path


def _pyplot():
    """``matplotlib.pyplot`` on the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig, path: Path) -> None:
    """``fig`` as a PNG at ``path``, atomically; the figure is closed."""
    import matplotlib.pyplot as plt

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100, format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _positive(values):
    return [v if v is not None and v > 0 and math.isfinite(v) else float("nan")
            for v in values]


def learning_curve(history: list[dict], path: Path, split: str,
                   best_epoch: int | None = None) -> bool:
    """Cost, accuracy, gradient norm and learning rate per epoch, as a PNG at ``path``.

    Args:
      history: the records of ``metrics.jsonl`` (``epoch``, ``train_cost``,
        ``train_accuracy``, ``val_cost``, ``val_accuracy``, ``grad_norm``,
        ``learning_rate``, and ``layer_grad_norms``: then a fourth panel, each layer's
        ‖∂J/∂W^l‖).
      path: the PNG to write.
      split: the name of the monitored split, "test" or "validation".
      best_epoch: the epoch whose parameters the run kept (early stopping), marked on
        every panel; ``None``: the epoch of the highest ``split`` accuracy is marked.
    Returns:
      True, or False when matplotlib is not installed (nothing written).
    """
    plt = _pyplot()
    if plt is None:
        return False
    epochs = [r["epoch"] for r in history]
    speeds = [r.get("layer_grad_norms") for r in history]
    per_layer = bool(speeds) and all(isinstance(s, list) and s for s in speeds)
    fig, axes = plt.subplots(1, 4 if per_layer else 3, figsize=(18.5 if per_layer else 14, 4))
    ax1, ax2, ax3 = axes[:3]
    ax1.plot(epochs, _positive([r.get("train_cost") for r in history]), label="train")
    ax1.plot(epochs, _positive([r.get("val_cost") for r in history]), label=split)
    ax1.set_yscale("log")
    ax1.set(ylabel="cost J (log scale)", title="cost")
    ax2.plot(epochs, [r.get("train_accuracy") for r in history], label="train")
    ax2.plot(epochs, [r.get("val_accuracy") for r in history], label=split)
    ax2.set(ylabel="accuracy", title="accuracy")
    ax3.plot(epochs, _positive([r.get("grad_norm") for r in history]), color="tab:green",
             label="gradient norm ‖∇J‖ (epoch mean)")
    ax3.set_yscale("log")
    ax3.set(ylabel="gradient norm", title="gradient norm and learning rate")
    lr_axis = ax3.twinx()
    lr_axis.plot(epochs, [r.get("learning_rate") for r in history], color="tab:purple",
                 linestyle="--", label="learning rate")
    lr_axis.set_ylabel("learning rate")
    with contextlib.suppress(ValueError):
        lr_axis.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    accuracies = [(r.get("val_accuracy"), r["epoch"]) for r in history
                  if r.get("val_accuracy") is not None]
    if best_epoch is not None:
        mark, why = best_epoch, f"kept: lowest {split} cost"
    elif accuracies:
        mark, why = max(accuracies)[1], f"highest {split} accuracy"
    else:
        mark = None
    if per_layer:  # Nielsen's speed of learning of each layer, ‖∂J/∂W^l‖ (epoch mean)
        ax4 = axes[3]
        for l, series in enumerate(zip(*speeds), start=1):
            ax4.plot(epochs, _positive(list(series)), label=f"layer {l}")
        ax4.set_yscale("log")
        ax4.set(ylabel="‖∂J/∂W^l‖ (epoch mean, log scale)", title="per-layer learning speed")
        ax4.legend(fontsize="small", ncol=2 if len(speeds[0]) > 5 else 1)
    for ax in axes:
        _integer_epochs(ax)
        ax.grid(alpha=0.3)
        if mark is not None:  # named in the cost panel's legend
            ax.axvline(mark, color="tab:red", linestyle=":", linewidth=1.2,
                       label=f"best epoch {mark} ({why})" if ax is ax1 else None)
    ax1.legend(fontsize=8)
    ax2.legend(handles=ax2.get_lines()[:2], loc="lower right", fontsize=8)
    lines = [*ax3.get_lines()[:1], *lr_axis.get_lines()]
    ax3.legend(lines, [line.get_label() for line in lines], fontsize=8)
    top = max(accuracies)[0] if accuracies else float("nan")
    fig.suptitle(f"{split} accuracy reaches {top:.3f}"
                 + (f" (best epoch {mark})" if mark is not None else ""))
    fig.tight_layout()
    _save(fig, path)
    return True


def _mean_std(curves: list[list[float]]) -> tuple[list[int], list[float], list[float]]:
    """Per epoch, the mean and sample std of the curves that reach it."""
    length = max((len(c) for c in curves), default=0)
    epochs, means, stds = [], [], []
    for e in range(length):
        values = [c[e] for c in curves if len(c) > e and math.isfinite(c[e])]
        if not values:
            continue
        mean = sum(values) / len(values)
        var = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)
               if len(values) > 1 else 0.0)
        epochs.append(e + 1)
        means.append(mean)
        stds.append(math.sqrt(var))
    return epochs, means, stds


def sweep_curves(histories: list[list[dict]], runs, settings: list[dict], path: Path,
                 split: str) -> bool:
    """The monitored accuracy and cost per epoch of a sweep: per setting a mean line and
    a ±1 std band over its seeds. ``runs[k]`` is run k's ``(lr, l2, seed)``."""
    plt = _pyplot()
    if plt is None:
        return False
    from jaxnn.cli import grid

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for setting in settings:
        members = [h for h, r in zip(histories, runs, strict=True)
                   if (r.lr, r.l2) == (setting["lr"], setting["l2"])]
        label = grid.label(setting) + (f" ({setting['diverged']} diverged)"
                                       if setting["diverged"] else "")
        for ax, key in ((ax1, "val_accuracy"), (ax2, "val_cost")):
            epochs, mean, std = _mean_std([[r[key] for r in h] for h in members])
            if not epochs:
                continue
            (line,) = ax.plot(epochs, mean, label=label)
            ax.fill_between(epochs, [m - s for m, s in zip(mean, std, strict=True)],
                            [m + s for m, s in zip(mean, std, strict=True)],
                            color=line.get_color(), alpha=0.2, linewidth=0)
    ax1.set(ylabel=f"{split} accuracy", title=f"{split} accuracy (mean ± 1 std over seeds)")
    ax2.set(ylabel=f"{split} cost (log scale)", title=f"{split} cost (mean ± 1 std)")
    ax2.set_yscale("log")
    for ax in (ax1, ax2):
        _integer_epochs(ax)
        ax.grid(alpha=0.3)
    if ax1.get_lines():  # no line when every run diverged in its first epoch
        ax1.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return True


def confusion(matrix, classes: list[str], path: Path, split: str = "test") -> bool:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells,
    class names on the axes."""
    plt = _pyplot()
    if plt is None:
        return False
    import numpy as np

    matrix = np.asarray(matrix)
    k = len(classes)
    size = max(5.0, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    if k <= 30:
        ax.set_xticks(range(k), classes, rotation=45, ha="right")
        ax.set_yticks(range(k), classes)
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                            fontsize=7, color="white" if shares[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"confusion matrix, {split} set ({int(matrix.sum()):,} examples, accuracy "
           f"{np.trace(matrix) / max(1, matrix.sum()):.4f})")
    fig.tight_layout()
    _save(fig, path)
    return True


def misclassified(images, true, predicted, confidence, classes: list[str], path: Path,
                  input_shape) -> bool:
    """A grid of misclassified examples (the most confidently wrong first), each titled
    "true → predicted (p)"; ``images`` are flat rows reshaped to ``input_shape``."""
    plt = _pyplot()
    if plt is None:
        return False
    import numpy as np

    n = len(images)
    cols = min(8, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows + 0.6),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, x, t, p, c in zip(axes.ravel(), images, true, predicted, confidence,
                              strict=False):
        picture = np.asarray(x).reshape(input_shape)
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
        ax.set_title(f"{classes[t]} → {classes[p]}\n({c:.2f})", fontsize=7)
    fig.suptitle(f"the {n} most confidently misclassified test examples (true → predicted, "
                 "confidence)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return True
