"""Class colours shared by every client, so that a class looks the same everywhere."""

from __future__ import annotations

import colorsys


def pascal_palette(n: int) -> list[tuple[int, int, int]]:
    """The PASCAL VOC colour map (class 0 black, 1 dark red, ...), extended to n classes.

    It spreads the bits of the class id over the three channels, which is how the
    VOC development kit draws its ground-truth masks.
    """
    colors = []
    for class_id in range(n):
        r = g = b = 0
        c = class_id
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return colors


def distinct_palette(n: int) -> list[tuple[int, int, int]]:
    """Class 0 (background) black, the others bright colours whose hues are far apart."""
    colors = [(0, 0, 0)]
    for class_id in range(1, n):
        # Golden-ratio steps around the hue circle keep neighbouring ids apart for any n.
        hue = ((class_id - 1) * 0.6180339887) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return colors
