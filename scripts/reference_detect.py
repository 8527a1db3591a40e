#!/usr/bin/env python3
"""Reference detections for tests/detect_reference.rs, computed with Python onnxruntime.

Runs a detector as its manifest describes it on every image in tests/data/images/ and writes the
reference JSON. Two models ship (`--model`):

- `centernet` (default): models/centernet_coco.toml -> tests/data/reference_detections.json
  (512x512, NHWC, RGB, raw 0..255);
- `nanodet`: models/nanodet_g_coco.toml -> tests/data/reference_detections_nanodet.json
  (416x416, NCHW, BGR, (p - mean) / std per channel in BGR order).

`--manifest`/`--out` override the paths. It re-implements the Rust pre- and post-processing of
src/vision/detect.rs (and the normalisation of src/vision/model.rs) independently, in numpy:

- decode: the pixels the Rust path sees. JPEG decoders disagree by a few levels per pixel
  (GStreamer's jpegdec -> I420 -> videoconvert vs libjpeg's RGB path in PIL), enough to move
  scores by 0.01-0.04, so by default images are decoded with the same GStreamer pipeline as
  src/vision/image.rs (gst-launch-1.0 ... ! filesink). The PIL decode is compared and recorded
  (`pil_decode`): for PNG it must be identical. `--decoder pil` decodes with PIL instead.
- resize: stretch to the input size, bilinear, half-pixel centres, no antialias (OpenCV INTER_LINEAR
  geometry): sx = clamp((x + 0.5) * in_w / out_w - 0.5, 0, in_w - 1) in float64,
  x0 = floor(sx), x1 = min(x0 + 1, in_w - 1), fx = float32(sx - x0); the blend in float32:
  top = p[y0,x0] * (1 - fx) + p[y0,x1] * fx; bottom likewise; v = top * (1 - fy) + bottom * fy.
  The blend runs on the frame's RGB samples; for a BGR model the channels are swapped first
  (the same numbers: interpolation is per channel).
- tensor: a * v + b per model channel, float32, with a = (hi - lo) / 255 / std[c] and
  b = (lo - mean[c]) / std[c] from pixel_range/mean/std (mean/std in the manifest's channel
  order), as InputSpec::affine; NHWC or NCHW as the manifest says.
- post: score >= threshold, scale by W/in_w, H/in_h (float32), clamp to [0, W] x [0, H], drop boxes
  without area, stable sort by score, greedy class-wise NMS (IoU > 0.5 suppresses).

Needs onnxruntime==1.31.1 (the wheel scripts/fetch-onnxruntime.sh takes the library from),
numpy and pillow. When they are not importable, the script makes a virtual environment in
$TMPDIR/sharpeyes-reference-venv (Debian needs the python3-venv package for that), installs the
pinned versions there and runs itself again. Decoding needs gst-launch-1.0 (gstreamer1.0-tools):

    python3 scripts/reference_detect.py                  # writes tests/data/reference_detections.json
    python3 scripts/reference_detect.py --model nanodet  # writes tests/data/reference_detections_nanodet.json
    python3 scripts/reference_detect.py --check          # recompute and compare, write nothing
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_ref import iou, preprocess  # noqa: E402

PINNED = ["onnxruntime==1.31.1", "numpy==2.4.6", "pillow==13.0.0"]
ROOT = Path(__file__).resolve().parent.parent
GST_DECODE = "decodebin ! videoconvert ! video/x-raw,format=RGB"  # after filesrc, as in image.rs
RAW_TOP = 20  # raw rows kept per image
# --model presets: manifest and output, relative to the repository.
MODELS = {
    "centernet": ("models/centernet_coco.toml", "tests/data/reference_detections.json"),
    "nanodet": ("models/nanodet_g_coco.toml", "tests/data/reference_detections_nanodet.json"),
}


def ensure_deps():
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import PIL  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("SHARPEYES_REFERENCE_VENV"):
        sys.exit("reference_detect: dependencies still missing inside the venv")
    venv = Path(tempfile.gettempdir()) / "sharpeyes-reference-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"reference_detect: creating {venv} with {' '.join(PINNED)}", file=sys.stderr)
        if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            sys.exit("reference_detect: cannot create a venv (on Debian: apt-get install python3-venv)")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", *PINNED], check=True)
    env = dict(os.environ, SHARPEYES_REFERENCE_VENV="1")
    os.execve(str(py), [str(py), __file__, *sys.argv[1:]], env)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def decode_gstreamer(path, width, height):
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rgb"
        cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!",
               *GST_DECODE.split(), "!", "filesink", f"location={out}"]
        subprocess.run(cmd, check=True)
        raw = out.read_bytes()
    stride = (width * 3 + 3) // 4 * 4  # GStreamer's default RGB stride
    if len(raw) != stride * height:
        sys.exit(f"{path}: GStreamer gave {len(raw)} bytes, expected {stride}x{height}")
    return np.frombuffer(raw, np.uint8).reshape(height, stride)[:, : width * 3].reshape(height, width, 3)


def decode_pil(path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def describe_preprocess(spec):
    """The `preprocess` line of the JSON, from the manifest's input spec."""
    w, h = spec["width"], spec["height"]
    lo, hi = spec["pixel_range"]
    mean, std = spec.get("mean", [0.0] * 3), spec.get("std", [1.0] * 3)
    chans = spec.get("channels", "RGB")
    if [lo, hi] == [0.0, 255.0] and all(m == 0 for m in mean) and all(d == 1 for d in std):
        norm = "raw 0..255"
    else:
        norm = f"pixel_range [{lo:g}, {hi:g}], (v - mean) / std with mean {mean} std {std}"
    if chans != "RGB":
        norm = f"{chans}, {norm} ({chans} order)"
    return (f"stretch to {w}x{h}, bilinear with half-pixel centres and no antialias (float32), "
            f"{norm}, {spec['layout']}")


def postprocess(rows, width, height, manifest, names):
    import numpy as np

    f32 = np.float32
    sx, sy = f32(width) / f32(manifest["input"]["width"]), f32(height) / f32(manifest["input"]["height"])
    pp = manifest["postprocess"]
    cands = []
    for r in rows:
        score, cls = r[4], r[5]
        if not (score >= f32(pp["score_threshold"]) and np.isfinite(cls) and cls >= 0):
            continue
        box = [min(max(r[0] * sx, f32(0)), f32(width)), min(max(r[1] * sy, f32(0)), f32(height)),
               min(max(r[2] * sx, f32(0)), f32(width)), min(max(r[3] * sy, f32(0)), f32(height))]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        cid = int(round(float(cls)))
        cands.append({"class": names[cid] if cid < len(names) else f"class_{cid}", "class_id": cid,
                      "score": float(score), "box": [float(v) for v in box]})
    cands.sort(key=lambda d: -d["score"])  # stable
    kept = []
    for d in cands:
        same = [k for k in kept if pp["nms"] == "agnostic" or k["class_id"] == d["class_id"]]
        if pp["nms"] == "none" or all(iou(k["box"], d["box"]) <= pp["nms_iou"] for k in same):
            kept.append(d)
    return kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="centernet",
                    help="which shipped model: sets the default --manifest and --out")
    ap.add_argument("--manifest", help="detector manifest (default: the --model's)")
    ap.add_argument("--images", default=str(ROOT / "tests/data/images"))
    ap.add_argument("--out", help="reference JSON (default: the --model's)")
    ap.add_argument("--decoder", choices=["gstreamer", "pil"], default="gstreamer")
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args()
    args.manifest = args.manifest or str(ROOT / MODELS[args.model][0])
    args.out = args.out or str(ROOT / MODELS[args.model][1])
    ensure_deps()
    import numpy as np
    import onnxruntime as ort
    import PIL
    from PIL import Image

    manifest_path = Path(args.manifest)
    manifest = tomllib.loads(manifest_path.read_text())
    assert manifest["kind"] == "detector", "not a detector manifest"
    assert manifest["output"]["coordinates"] == "input_pixels", "only input_pixels boxes are implemented"
    assert manifest["output"]["format"] == "xyxy_score_class", "only xyxy_score_class rows are implemented"
    assert manifest["input"]["resize"] == "stretch", "only the stretch resize is implemented"
    model_path = manifest_path.parent / manifest["file"]
    model_sha = sha256(model_path.read_bytes())
    if model_sha != manifest["sha256"]:
        sys.exit(f"{model_path}: sha256 {model_sha} != manifest {manifest['sha256']}")
    names = [line.strip() for line in (manifest_path.parent / manifest["classes"]["file"]).read_text().splitlines()]
    while names and not names[-1]:
        names.pop()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    spec = manifest["input"]

    images = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    results = []
    for path in images:
        with Image.open(path) as im:
            width, height = im.size
        pil = decode_pil(path)
        gst = decode_gstreamer(path, width, height)
        rgb = gst if args.decoder == "gstreamer" else pil
        diff = np.abs(pil.astype(np.int16) - gst.astype(np.int16))
        if path.suffix.lower() == ".png" and diff.max() != 0:
            sys.exit(f"{path}: PIL and GStreamer decode this PNG differently (max {diff.max()})")
        out = sess.run([manifest["output"]["name"]], {spec["name"]: preprocess(rgb, spec)})[0]
        rows = out[0]
        dets = postprocess(rows, width, height, manifest, names)
        results.append({
            "image": path.name,
            "sha256": sha256(path.read_bytes()),
            "width": width,
            "height": height,
            "rgb_sha256": sha256(np.ascontiguousarray(rgb).tobytes()),
            "pil_decode": {"max_abs_diff": int(diff.max()), "mean_abs_diff": round(float(diff.mean()), 4)},
            "detections": dets,
            "raw_top": [[float(v) for v in r] for r in rows[:RAW_TOP]],
        })
        summary = ", ".join(f"{d['class']} {d['score']:.3f}" for d in dets)
        print(f"{path.name}: {len(dets)} detections: {summary}", file=sys.stderr)

    in_w, in_h = spec["width"], spec["height"]
    doc = {
        "generator": "scripts/reference_detect.py",
        "versions": {"onnxruntime": ort.__version__, "numpy": np.__version__, "pillow": PIL.__version__},
        "model": {"manifest": str(manifest_path.relative_to(ROOT)) if manifest_path.is_relative_to(ROOT) else str(manifest_path),
                  "sha256": model_sha},
        "decoder": ("gst-launch-1.0 filesrc ! " + GST_DECODE) if args.decoder == "gstreamer" else "PIL Image.convert('RGB')",
        "preprocess": describe_preprocess(spec),
        "postprocess": {"score_threshold": manifest["postprocess"]["score_threshold"],
                        "nms": manifest["postprocess"]["nms"], "nms_iou": manifest["postprocess"]["nms_iou"],
                        "boxes": f"scaled by W/{in_w}, H/{in_h}, clamped to the image, empty boxes dropped"},
        "raw_top": f"first {RAW_TOP} raw output rows [x1, y1, x2, y2, score, class_id] in {in_w}x{in_h} input pixels",
        "images": results,
    }
    # One line per number list and per detection keeps the file readable and diffable.
    text = json.dumps(doc, indent=1)
    text = re.sub(r"\[\s+([-0-9.e+,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    text = re.sub(r"\{\s+(\"class\": [^{}]+?)\s+\}", lambda m: "{" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "}", text)
    text += "\n"
    if args.check:
        old = json.loads(Path(args.out).read_text())
        if old["images"] != doc["images"]:
            sys.exit(f"{args.out} differs from a fresh run")
        print(f"{args.out}: identical to a fresh run", file=sys.stderr)
    else:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
