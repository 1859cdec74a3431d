"""Comparison charts drawn with matplotlib, as PNG or SVG bytes."""

from __future__ import annotations

import io
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt

from core.series import Comparison

ACCURACIES = {"train_accuracy", "test_accuracy"}
_LABELS = {
    "loss": "training loss (cross-entropy)",
    "train_accuracy": "minibatch accuracy",
    "test_accuracy": "test accuracy",
    "learning_rate": "learning rate",
}


LEGEND_LABEL_CHARS = 48


def plain_text(text: str, limit: int | None = None) -> str:
    """Text matplotlib shows as written: `$` starts math markup (a stray one
    fails the whole render), and a leading `_` hides a legend entry."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def render(
    comparison: Comparison,
    image_format: Literal["png", "svg"],
    *,
    log_y: bool = False,
    title: str | None = None,
) -> bytes:
    """One line per run, its bucket extremes as a faint band behind it."""
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    try:
        for run in comparison.runs:
            points = [
                (step, value, low, high)
                for step, value, low, high in zip(
                    comparison.steps, run.values, run.minimum, run.maximum, strict=True
                )
                if value is not None
            ]
            if not points:
                continue
            steps, values, lows, highs = zip(*points, strict=True)
            label = plain_text(run.job.name, LEGEND_LABEL_CHARS)
            (line,) = axes.plot(steps, values, label=label, linewidth=1.6)
            if comparison.bucket_steps > 1:
                axes.fill_between(
                    steps, lows, highs, color=line.get_color(), alpha=0.15
                )

        metric = comparison.metric
        axes.set_xlabel("iteration")
        axes.set_ylabel(_LABELS.get(metric, metric))
        axes.set_title(
            plain_text(title)
            if title
            else f"{_LABELS.get(metric, metric)} by iteration"
        )
        if metric in ACCURACIES:
            axes.set_ylim(0, 1)
        if log_y:
            axes.set_yscale("log")
        axes.grid(True, alpha=0.3)
        if comparison.runs:
            axes.legend(loc="best", fontsize="small")
        figure.tight_layout()

        buffer = io.BytesIO()
        figure.savefig(buffer, format=image_format)
        return buffer.getvalue()
    finally:
        plt.close(figure)
