"""The learning-curve figure of a training run (needs matplotlib, the ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path


def learning_curve(history: list[dict], path: Path, val_name: str) -> bool:
    """Cost and accuracy per epoch, train and validation, as a PNG at ``path``.

    Args:
      history: the records of ``metrics.jsonl`` (``epoch``, ``train_cost``, ``val_cost``,
        ``train_accuracy``, ``val_accuracy``).
      path: the PNG to write.
      val_name: what the validation curve measures, for the title.
    Returns:
      True, or False when matplotlib is not installed (nothing written).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [r["train_cost"] for r in history], label="train")
    ax1.plot(epochs, [r["val_cost"] for r in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="cost J", title="cost")
    ax2.plot(epochs, [r["train_accuracy"] for r in history], label="train")
    ax2.plot(epochs, [r["val_accuracy"] for r in history], label="validation")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax1, ax2):
        ax.legend()
        ax.grid(alpha=0.3)
    best = max(r["val_accuracy"] for r in history) if history else float("nan")
    fig.suptitle(f"validation accuracy reaches {best:.3f} (validation: {val_name})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
