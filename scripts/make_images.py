"""Draw the documentation's images from source: ``docs/images/{architecture,data_flow,logo}.png``.

Usage::

    python scripts/make_images.py            # rewrite docs/images/
    python scripts/make_images.py --out DIR  # write elsewhere (tests/docs compares the two)

The pictures are matplotlib drawings (boxes and arrows), so they can be remade when the
design changes. What is built and what is planned is read from OmniQ itself
(``omniq.backends.AVAILABLE_BACKENDS`` / ``PLANNED_BACKENDS``, ``omniq.workers.WORKER_TYPES``),
so the architecture picture cannot claim a backend or a worker type the code lacks:
``tests/docs/test_images.py`` fails when the committed images are out of date.
Output is deterministic (fixed size and fonts, no timestamp in the PNG).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from omniq.backends import AVAILABLE_BACKENDS, PLANNED_BACKENDS
from omniq.workers import WORKER_TYPES

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"

PRIMARY = "#2780e3"  # cosmo's primary blue, as in the site's navbar
DARK = "#1a3a5c"
LIGHT = "#e8f1fc"
PLANNED = "#9aa5b1"
GREEN = "#3fb618"
PNG_METADATA = {"Software": None}  # no matplotlib version or timestamp in the file

plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 11, "svg.hashsalt": "omniq"})


def _canvas(width: float, height: float) -> tuple[plt.Figure, Axes]:
    figure = plt.figure(figsize=(width, height), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width * 10)
    axes.set_ylim(0, height * 10)
    axes.axis("off")
    return figure, axes


def _box(
    axes: Axes,
    x: float,
    y: float,
    width: float,
    height: float,
    text: str,
    *,
    fill: str = LIGHT,
    edge: str = PRIMARY,
    color: str = DARK,
    dashed: bool = False,
    size: int = 11,
    weight: str = "normal",
) -> None:
    axes.add_patch(
        FancyBboxPatch(
            (x, y),
            width,
            height,
            boxstyle="round,pad=0.3,rounding_size=1.2",
            linewidth=1.6,
            linestyle="--" if dashed else "-",
            facecolor=fill,
            edgecolor=edge,
        )
    )
    axes.text(
        x + width / 2, y + height / 2, text, ha="center", va="center",
        color=color, fontsize=size, fontweight=weight, linespacing=1.3,
    )  # fmt: skip


def _arrow(
    axes: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    *,
    color: str = DARK,
    dashed: bool = False,
    offset: tuple[float, float] = (0.0, 1.2),
) -> None:
    axes.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.4, color=color,
            linestyle="--" if dashed else "-", shrinkA=2, shrinkB=2,
        )
    )  # fmt: skip
    if label:
        middle = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        axes.text(*middle, label, ha="center", va="bottom", fontsize=9, color=color)


def architecture(path: Path) -> None:
    """Layers: your code, the facade, the core's policy, storage roles, backends, workers."""
    figure, axes = _canvas(12, 7.6)
    axes.text(60, 72, "OmniQ architecture", ha="center", fontsize=16, fontweight="bold",
              color=DARK)  # fmt: skip
    _box(axes, 4, 58, 30, 7, "Your code\nscripts, web apps, async services")
    _box(axes, 44, 58, 32, 7, "OmniQ facade\nsync API -> one event-loop thread\nasync API",
         fill=PRIMARY, edge=PRIMARY, color="white", weight="bold")  # fmt: skip
    _box(axes, 86, 58, 30, 7, "Workers (in any process)\nclaim - lease - run - record")
    _arrow(axes, (34.6, 61.5), (43.4, 61.5), "enqueue,\nget_result")
    _box(axes, 44, 42, 32, 9, "Core policy (omniq.core)\nretries and backoff, TTLs, schedules,\n"
         "queue order, serialization + signing", size=10)  # fmt: skip
    _arrow(axes, (60, 57.4), (60, 51.6))
    roles = [("EventStorage", 16), ("ResultStorage", 60), ("TaskQueue", 104)]
    for name, center in roles:
        _box(axes, center - 13, 27, 26, 6, f"{name}\n(storage interface)", size=10)
        _arrow(axes, (60, 41.4), (center, 33.6))
    _arrow(axes, (108, 57.4), (108, 33.6), "claim under\na lease", color=PRIMARY, dashed=True,
           offset=(6, -3))  # fmt: skip
    axes.text(4, 19.5, "Backends - each implements all three roles", fontsize=11,
              fontweight="bold", color=DARK)  # fmt: skip
    names = [(name, False) for name in AVAILABLE_BACKENDS] + [
        (name, True) for name in PLANNED_BACKENDS
    ]
    width = 112 / len(names)
    for index, (name, planned) in enumerate(names):
        label = f"{name}\n(planned)" if planned else f"{name}\n(available)"
        _box(axes, 4 + index * width + 1, 8, width - 4, 7, label, dashed=planned,
             fill="white" if planned else LIGHT, edge=PLANNED if planned else GREEN,
             color=PLANNED if planned else DARK, size=10)  # fmt: skip
    note = f"Worker types: {', '.join(WORKER_TYPES)}"
    axes.text(60, 2.5, note, ha="center", fontsize=10, color=DARK)
    figure.savefig(path, metadata=PNG_METADATA)
    plt.close(figure)


def data_flow(path: Path) -> None:
    """One task's trip: enqueue, claim under a lease, run, store the result, read it back."""
    figure, axes = _canvas(12, 6.4)
    axes.text(60, 60, "Data flow of one task", ha="center", fontsize=16, fontweight="bold",
              color=DARK)  # fmt: skip
    lanes = [("Client", 10), ("OmniQ", 30), ("Task queue", 50), ("Worker", 70),
             ("Result store", 90), ("Event store", 110)]  # fmt: skip
    for name, x in lanes:
        _box(axes, x - 8, 50, 16, 5, name, fill=PRIMARY, edge=PRIMARY, color="white",
             size=10, weight="bold")  # fmt: skip
        axes.plot([x, x], [4, 49.4], color=PLANNED, linewidth=1, linestyle=":")
    steps = [
        (10, 30, 46, "enqueue(func, args)"),
        (30, 50, 42, "store task (enqueued)"),
        (30, 110, 38.5, "append 'enqueued' event"),
        (70, 50, 34, "claim(queues, lease)"),
        (50, 70, 30, "task record (executing)"),
        (70, 110, 26.5, "'dequeued', 'executing' events"),
        (70, 90, 22.5, "put result (result_ttl)"),
        (70, 50, 18.5, "mark completed"),
        (70, 110, 15, "'completed' event"),
        (10, 30, 10.5, "get_result(task_id)"),
        (30, 90, 6.5, "read result -> value"),
    ]
    for start, end, y, label in steps:
        _arrow(axes, (start, y), (end, y), label, color=DARK if start < end else PRIMARY,
               offset=(0, 0.4))  # fmt: skip
    axes.text(60, 1.2, "lease renewed every lease/3 while the body runs; "
              "a dead worker's lease lapses and the task runs again",
              ha="center", fontsize=9, color=DARK)  # fmt: skip
    figure.savefig(path, metadata=PNG_METADATA)
    plt.close(figure)


def logo(path: Path) -> None:
    """A round Q whose tail is a queue of three tasks, and the name."""
    figure, axes = _canvas(2.56, 2.56)
    axes.add_patch(Circle((12.8, 14.2), 8.2, facecolor="white", edgecolor=PRIMARY, linewidth=9))
    for index, shade in enumerate((PRIMARY, "#5a9fe9", "#8dbdf0")):
        axes.add_patch(
            FancyBboxPatch((15.2 + index * 2.9, 4.0 - index * 0.0), 2.2, 2.2,
                           boxstyle="round,pad=0.1,rounding_size=0.5",
                           facecolor=shade, edgecolor="none")
        )  # fmt: skip
    axes.add_patch(
        FancyArrowPatch((16.0, 9.2), (20.6, 6.9), arrowstyle="-", linewidth=9, color=PRIMARY)
    )
    axes.text(12.8, 14.2, "Q", ha="center", va="center", fontsize=34, fontweight="bold",
              color=DARK)  # fmt: skip
    axes.text(12.8, 1.6, "OmniQ", ha="center", va="center", fontsize=13, fontweight="bold",
              color=DARK)  # fmt: skip
    figure.savefig(path, metadata=PNG_METADATA, transparent=True)
    plt.close(figure)


IMAGES = {"architecture.png": architecture, "data_flow.png": data_flow, "logo.png": logo}


def main(argv: list[str] | None = None) -> None:
    """Write every image into ``--out`` (default ``docs/images``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES, help="output directory")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in IMAGES.items():
        draw(out / name)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
