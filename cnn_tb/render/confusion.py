"""The confusion matrix as a picture for the Images dashboard: cells coloured by the
fraction of their row (true class), counts written in them, class names on the
left, class indices on top. Drawn with numpy and Pillow's default font."""

import numpy as np

from cnn_tb.render.colors import colormap_lut

TITLE_HEIGHT = 16
HEADER_HEIGHT = 14  # the row of column indices
MAX_LABELLED = 40  # more classes: no names, no indices


def cell_size(k):
    """Pixels per cell for ``k`` classes (counts are written from 18 pixels up)."""
    return 28 if k <= 12 else 20 if k <= 30 else max(3, 600 // k)


def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def layout(k, names):
    """``(cell, left, top)``: cell size and where the matrix starts (after the
    class names on the left, the title and the column indices on top)."""
    if k > MAX_LABELLED:
        return cell_size(k), 0, TITLE_HEIGHT
    font = _font()
    left = min(150, 8 + max((int(font.getlength(str(n))) for n in names), default=0))
    return cell_size(k), left, TITLE_HEIGHT + HEADER_HEIGHT


def confusion_picture(counts, names, cmap="Blues", title=""):
    """uint8 RGB picture of a confusion matrix.

    Args:
        counts: int ``[K, K]``, row = true class, column = predicted class.
        names: the K class names (labels on the left when K <= 40).
        cmap: colormap of the row fractions.
        title: a line above the matrix.
    """
    from PIL import Image, ImageDraw

    counts = np.asarray(counts, np.int64)
    k = counts.shape[0]
    font = _font()
    cell, left, top = layout(k, names)
    labels = k <= MAX_LABELLED
    width = max(left + k * cell + 2, 220)
    height = top + k * cell + 2
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.where(rows > 0, counts / np.maximum(rows, 1), 0.0)
    colours = colormap_lut(cmap)[np.rint(frac * 255).astype(np.intp)]  # [K, K, 3]
    grid = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    canvas[top : top + k * cell, left : left + k * cell] = grid
    if cell >= 6:  # thin white lines between cells
        canvas[top : top + k * cell, left : left + k * cell][::cell, :] = 255
        canvas[top : top + k * cell, left : left + k * cell][:, ::cell] = 255
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    draw.text((2, 2), title or "rows: true class, columns: predicted class", fill=(30, 30, 30), font=font)
    if labels:
        for i, name in enumerate(names):
            text = str(name)
            while text and font.getlength(text) > left - 6:
                text = text[:-1]
            draw.text((2, top + i * cell + (cell - 11) // 2), text, fill=(30, 30, 30), font=font)
            idx = str(i)
            draw.text((left + i * cell + (cell - font.getlength(idx)) / 2, TITLE_HEIGHT), idx, fill=(30, 30, 30), font=font)
    if cell >= 18:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    text = str(int(counts[i, j]))
                    ink = (255, 255, 255) if frac[i, j] > 0.5 else (20, 20, 20)
                    draw.text((left + j * cell + (cell - font.getlength(text)) / 2, top + i * cell + (cell - 11) // 2), text, fill=ink, font=font)
    return np.asarray(img)
