#!/usr/bin/env python3
"""Builds the labelled picture-diagnosis set in this folder (see README.md).

Real frames of the shared CCTV clip and the shared photos, altered each way (tinted, brightened,
darkened, blurred, covered, black), written as JPEG q90, with labels.json (the faults each image
SHOULD have) and SHA256SUMS. Deterministic for the same ffmpeg, numpy, Pillow and OpenCV:

    python3 tests/data/diagnose/make.py [--assets ../shared/assets/media]

Needs numpy, Pillow and opencv-python-headless (target/eval-venv has them) and ffmpeg.
"""

import argparse
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
QUALITY = 90


def frame(video, t):
    """The first frame at or after t seconds, RGB uint8 (ffmpeg input seeking)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "f.png"
        subprocess.run(["ffmpeg", "-v", "error", "-ss", str(t), "-i", str(video), "-frames:v", "1",
                        str(out)], check=True)
        return np.asarray(Image.open(out).convert("RGB"))


def photo(path, size):
    """A shared photo, centre-cropped to the aspect of `size` and resized to it (Lanczos)."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    tw, th = size
    if (w, h) != (tw, th):
        if w * th > h * tw:  # too wide: crop the width
            cw = round(h * tw / th)
            im = im.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
        else:
            ch = round(w * th / tw)
            im = im.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
        im = im.resize((tw, th), Image.LANCZOS)
    return np.asarray(im)


def u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def gains(rgb, g):
    """White-balance failure: per-channel gains on the sRGB samples."""
    return u8(rgb.astype(np.float32) * np.array(g, np.float32))


def overlay(rgb, colour, alpha):
    """A tinted dome or filter: alpha-blend with a flat colour."""
    return u8(rgb.astype(np.float32) * (1 - alpha) + np.array(colour, np.float32) * alpha)


def gamma(rgb, g):
    """out = 255 * (in / 255) ** g; g < 1 brightens the shadows and mid-tones, 255 stays 255."""
    return u8(255.0 * (rgb.astype(np.float32) / 255.0) ** g)


def exposure(rgb, stops):
    """+exposure in linear light with a soft shoulder (Reinhard-like), so nothing clips to white."""
    lin = (rgb.astype(np.float32) / 255.0) ** 2.2
    lin = lin * 2.0 ** stops
    lin = lin / (1.0 + lin / 4.0) * 1.25  # shoulder: 1 -> 1, 4 -> 2.5; keeps highlights < 1.25
    lin = np.minimum(lin, 1.0)
    return u8(255.0 * lin ** (1 / 2.2))


def scale(rgb, k, noise=0.0, seed=0):
    """Darken by a factor (less light / lower gain), with optional gaussian sensor noise."""
    x = rgb.astype(np.float32) * k
    if noise:
        x += np.random.default_rng(seed).normal(0, noise, x.shape).astype(np.float32)
    return u8(x)


def blur(rgb, sigma):
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def blob_mask(h, w, parts, soft):
    """A union of filled ellipses ((cx, cy, ax, ay, angle) as fractions of the size), feathered."""
    m = np.zeros((h, w), np.uint8)
    for cx, cy, ax, ay, ang in parts:
        cv2.ellipse(m, (round(cx * w), round(cy * h)), (round(ax * w), round(ay * h)), ang, 0, 360, 255, -1)
    m = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), soft)
    return m[:, :, None]


def cover(rgb, mask, colour_fn):
    return u8(rgb.astype(np.float32) * (1 - mask) + colour_fn(rgb.shape[0], rgb.shape[1]) * mask)


def hand_colour(h, w):
    """An out-of-focus hand close to the lens: skin tone, a broad smooth shading, no texture."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.75 + 0.25 * np.exp(-(((xx - 0.45 * w) / (0.5 * w)) ** 2 + ((yy - 0.55 * h) / (0.55 * h)) ** 2))
    return np.stack([196 * shade, 142 * shade, 118 * shade], axis=2)


def bag_colour(h, w):
    """A dark cloth/bag over the dome: near-neutral dark grey with a slight vertical shading."""
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    v = 38 + 10 * yy / h
    return np.stack([v, v, v * 1.05], axis=2)


def paint_colour(h, w):
    """Grey primer spray paint: flat, near-neutral mid grey."""
    return np.broadcast_to(np.array([124, 122, 118], np.float32), (h, w, 3))


def fraction(mask):
    return float((mask[:, :, 0] > 0.5).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assets", default=str(HERE.parents[3] / "shared/assets/media"))
    args = ap.parse_args()
    media = Path(args.assets)
    video = media / "vtest_h264.mp4"

    f = {t: frame(video, t) for t in (5, 10, 20, 25, 30, 40, 50, 60, 70)}
    dog = photo(media / "dog.jpg", (768, 576))
    person = photo(media / "person.jpg", (640, 360))
    H, W = 576, 768

    hand = blob_mask(H, W, [(0.42, 0.60, 0.40, 0.48, -20), (0.80, 0.75, 0.18, 0.40, 15),
                            (0.20, 0.15, 0.14, 0.25, 30)], soft=12)
    bag = blob_mask(H, W, [(0.55, 0.45, 0.47, 0.55, 5), (0.10, 0.85, 0.20, 0.25, 0)], soft=6)
    spray = blob_mask(H, W, [(0.30, 0.35, 0.30, 0.32, 10), (0.65, 0.55, 0.33, 0.38, -25),
                             (0.50, 0.85, 0.30, 0.18, 0), (0.85, 0.20, 0.16, 0.22, 40),
                             (0.12, 0.75, 0.14, 0.20, -10)], soft=3)

    items = [
        # clean
        ("cctv_t05_clean.jpg", f[5], [], "clip frame at 5 s, unaltered"),
        ("cctv_t40_clean.jpg", f[40], [], "clip frame at 40 s, unaltered"),
        ("dog_clean.jpg", dog, [], "dog.jpg (768x576), re-encoded"),
        ("person_clean.jpg", person, [], "person.jpg centre-cropped to 640x360"),
        # colour casts (a fault: 图像偏色)
        ("cctv_t40_red.jpg", gains(f[40], [1.20, 0.80, 0.65]), ["color_cast"],
         "clip 40 s, white-balance failure: channel gains R 1.20, G 0.80, B 0.65"),
        ("cctv_t05_green.jpg", gains(f[5], [0.70, 1.15, 0.70]), ["color_cast"],
         "clip 5 s, channel gains R 0.70, G 1.15, B 0.70 (green cast)"),
        ("cctv_t30_blue.jpg", overlay(f[30], [40, 80, 230], 0.70), ["color_cast"],
         "clip 30 s, heavily tinted dome: alpha-blend 0.70 with RGB (40, 80, 230); luma contrast x0.3"),
        ("cctv_t40_bluecast.jpg", gains(f[40], [0.15, 0.30, 1.40]), ["color_cast"],
         "clip 40 s, strong blue white-balance failure: channel gains R 0.15, G 0.30, B 1.40"),
        ("dog_yellow.jpg", overlay(dog, [235, 210, 40], 0.40), ["color_cast"],
         "dog.jpg, tinted cover: alpha-blend 0.40 with RGB (235, 210, 40)"),
        ("person_blue.jpg", gains(person, [0.65, 0.85, 1.25]), ["color_cast"],
         "person.jpg 640x360, channel gains R 0.65, G 0.85, B 1.25 (failed IR-cut / white balance)"),
        # brightened, still usable
        ("cctv_t20_gamma.jpg", gamma(f[20], 0.55), [], "clip 20 s, gamma 0.55 (brighter, highlights not clipped)"),
        ("dog_exposure.jpg", exposure(dog, 1.0), [], "dog.jpg, +1 EV in linear light with a soft shoulder"),
        ("cctv_t20_veil.jpg", overlay(f[20], [255, 255, 255], 0.65), [],
         "clip 20 s, brightened by a white veil (flare / lifted blacks): alpha-blend 0.65 with white, "
         "mean luma about 207, nothing clipped"),
        ("cctv_t50_overexposed.jpg", exposure(f[50], 3.2), ["too_bright"],
         "clip 50 s, +3.2 EV with a soft shoulder: washed out (the white-out the too_bright fault is for)"),
        # darkened, still usable
        ("cctv_t60_dim.jpg", scale(f[60], 0.33, noise=1.0, seed=60), [],
         "clip 60 s, x0.33 (dusk / low gain, mean luma about 38) plus gaussian noise sigma 1"),
        ("person_dim.jpg", scale(person, 0.45), [], "person.jpg 640x360, x0.45"),
        # faulty
        ("black.jpg", scale(f[10], 0.0, noise=1.5, seed=1), ["too_dark"],
         "black frame (signal loss): zeros plus gaussian noise sigma 1.5, 768x576"),
        ("cctv_t10_very_dark.jpg", scale(f[10], 0.16, noise=1.0, seed=10), ["too_dark"],
         "clip 10 s, x0.16 plus noise sigma 1 (night without IR: faint shapes only)"),
        ("cctv_t50_blur.jpg", blur(f[50], 6.0), ["blur"], "clip 50 s, gaussian blur sigma 6 px (defocus)"),
        ("dog_blur.jpg", blur(dog, 5.0), ["blur"], "dog.jpg, gaussian blur sigma 5 px"),
        ("cctv_t25_hand.jpg", cover(f[25], hand, hand_colour), ["occlusion"],
         f"clip 25 s, an out-of-focus skin-coloured hand-like blob (3 ellipses, feathered) covering "
         f"{fraction(hand):.0%} of the frame"),
        ("cctv_t70_bag.jpg", cover(f[70], bag, bag_colour), ["occlusion"],
         f"clip 70 s, a dark grey bag-like blob covering {fraction(bag):.0%} of the frame"),
        ("cctv_t20_sprayed.jpg", cover(f[20], spray, paint_colour), ["occlusion"],
         f"clip 20 s, grey primer spray paint on the dome: 5 feathered blotches covering {fraction(spray):.0%} of the frame"),
    ]

    images = []
    for name, rgb, expect, made in items:
        Image.fromarray(rgb).save(HERE / name, quality=QUALITY)
        images.append({"file": name, "expect": expect, "made": made})
    (HERE / "labels.json").write_text(json.dumps({"images": images}, indent=1, ensure_ascii=False) + "\n")
    sums = "".join(f"{hashlib.sha256((HERE / i['file']).read_bytes()).hexdigest()}  {i['file']}\n"
                   for i in images)
    (HERE / "SHA256SUMS").write_text(sums)
    total = sum((HERE / i["file"]).stat().st_size for i in images)
    print(f"{len(images)} images, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
