"""The reference detector's arithmetic, as src/vision/detect.rs does it: bilinear resize with
half-pixel centres into the model's input tensor, and box overlap. Shared by
scripts/reference_detect.py and scripts/eval_reference.py (imported from the script's own
directory). numpy is imported inside the functions: reference_detect.py imports this module
before it has made sure numpy is installed."""


def taps(n_in, n_out):
    """Source taps of a bilinear resize from `n_in` to `n_out` samples with half-pixel centres
    and no antialias: the lower index, the upper index and the weight of the upper one."""
    import numpy as np

    s = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    s = np.clip(s, 0.0, n_in - 1)
    i0 = np.floor(s)
    f = (s - i0).astype(np.float32)
    i0 = i0.astype(np.int64)
    return i0, np.minimum(i0 + 1, n_in - 1), f


def preprocess(rgb, spec):
    """The model's input tensor (batch of one, float32) from an RGB picture (H x W x 3 uint8):
    stretched to `spec`'s width and height, channels in its order, its pixel range and its
    (v - mean) / std normalisation (defaults: RGB, mean 0, std 1), in its layout."""
    import numpy as np

    h, w, _ = rgb.shape
    y0, y1, fy = taps(h, spec["height"])
    x0, x1, fx = taps(w, spec["width"])
    p = rgb.astype(np.float32)
    if spec.get("channels", "RGB") == "BGR":
        p = p[:, :, ::-1]
    gx = (np.float32(1) - fx)[None, :, None]
    gy = (np.float32(1) - fy)[:, None, None]
    fx3, fy3 = fx[None, :, None], fy[:, None, None]
    top = p[y0][:, x0] * gx + p[y0][:, x1] * fx3
    bottom = p[y1][:, x0] * gx + p[y1][:, x1] * fx3
    v = top * gy + bottom * fy3
    lo, hi = spec["pixel_range"]
    mean = np.array(spec.get("mean", [0.0] * 3), np.float32)
    std = np.array(spec.get("std", [1.0] * 3), np.float32)
    a = (np.float32(hi) - np.float32(lo)) / np.float32(255.0) / std
    b = (np.float32(lo) - mean) / std
    t = (a * v + b).astype(np.float32)
    if spec["layout"] == "NCHW":
        t = t.transpose(2, 0, 1)
    return np.ascontiguousarray(t[None])


def area(r):
    """Area of a box [x0, y0, x1, y1] (0 when empty)."""
    return max(r[2] - r[0], 0.0) * max(r[3] - r[1], 0.0)


def iou(a, b):
    """Intersection over union of two boxes [x0, y0, x1, y1] (0 when both are empty)."""
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0
