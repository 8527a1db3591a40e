#!/usr/bin/env python3
"""Reference person-detection evaluation over tests/data/eval/labels.json with Python onnxruntime.

The "before" figures of issue 14, and an independent check of the Rust `sharpeyes eval` harness:
for each model it runs one single pass per image (stretch resize to the model input, no tiles,
no zone crop), keeps the `person` detections, and prints per score threshold

- TP / FN / FP, recall and precision at IoU 0.5 (greedy matching by score: a detection takes the
  unmatched labelled person it overlaps most, IoU >= 0.5; one that instead overlaps a box marked
  `"ignore": true` with IoU >= 0.5 (or lies >= 70% inside it) counts neither way; every other
  detection is a false positive; every unmatched non-ignored person is a miss),
- count MAE: mean over images of |counted - labelled|, where counted = person detections at the
  threshold that are not matched to an ignore box, labelled = non-ignored persons,
- ms per image: median wall time of preprocess (numpy, slower than the Rust one) + inference +
  postprocess, and of the inference alone (after one warm-up run),

overall and per image set (`set` field in labels.json: `cctv` native clip frames, `wide` far /
wide-camera composites, `photo` the still photos), so that a calibrated person threshold can be
chosen per model.

Pre-processing is the one src/vision/detect.rs documents (and scripts/reference_detect.py
re-implements): stretch resize with half-pixel-centre bilinear taps and no antialias, in float32;
then `a * v + b` per channel from pixel_range/mean/std, channel order and layout per model.
Post-processing: scale to the image, clamp, drop empty boxes, stable sort by score, greedy
class-wise NMS (IoU > 0.5 suppresses). Greedy NMS keeps a box only because of higher-scored
boxes, so NMS is run once at the lowest threshold and the result filtered per threshold.
Images are decoded with PIL (the Rust side decodes JPEG with GStreamer; that moves scores by
~0.01-0.04 on JPEGs, PNGs decode identically).

Models (built in, from ../shared/assets/README.md; a manifest under models/ overrides the file
path when present):

- centernet: centernet_coco.onnx, `images` float32 [1,512,512,3] NHWC RGB raw 0..255,
  `detections` [1,100,6] rows [x1,y1,x2,y2,score,class] in 512x512 input pixels.
- nanodet: nanodet_g_coco.onnx, `images` float32 [1,3,416,416] NCHW BGR,
  (pixel - mean) / std with mean [103.53,116.28,123.675], std [57.375,57.12,58.395] (BGR),
  `detections` [1,300,6] rows as above in 416x416 input pixels.

Usage (needs numpy, pillow, onnxruntime; e.g. a venv in target/eval-venv):

    python3 scripts/eval_reference.py                       # both models, default thresholds
    python3 scripts/eval_reference.py --model nanodet --thresholds 0.4 0.5 --threads 2
    python3 scripts/eval_reference.py --per-image           # per-image TP/FN/FP at each threshold
    python3 scripts/eval_reference.py --draw /tmp/overlays  # labels (green/grey) + detections (red)
    python3 scripts/eval_reference.py --json out.json       # the table as JSON
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_ref import area, iou, preprocess  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "assets" / "models"

MODELS = {
    "centernet": {
        "file": "centernet_coco.onnx",
        "input": {"name": "images", "width": 512, "height": 512, "layout": "NHWC", "channels": "RGB",
                  "pixel_range": [0.0, 255.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
        "output": "detections",
    },
    "nanodet": {
        "file": "nanodet_g_coco.onnx",
        "input": {"name": "images", "width": 416, "height": 416, "layout": "NCHW", "channels": "BGR",
                  "pixel_range": [0.0, 255.0], "mean": [103.53, 116.28, 123.675],
                  "std": [57.375, 57.12, 58.395]},
        "output": "detections",
    },
}
PERSON = 0
NMS_IOU = 0.5
MATCH_IOU = 0.5
IGNORE_INSIDE = 0.7  # a detection this much inside an ignore box is ignored too


def find_model(name, override):
    if override:
        return Path(override)
    fname = MODELS[name]["file"]
    for d in (ROOT / "models", SHARED_MODELS):
        if (d / fname).exists():
            return d / fname
    sys.exit(f"{fname}: not found in models/ or {SHARED_MODELS}; pass --model-file {name}=PATH")


# ---------------------------------------------------------------------------------------------
# Pre- and post-processing (as src/vision/detect.rs)

def postprocess(rows, width, height, spec, min_score):
    """All classes: threshold, scale, clamp, drop empty, stable sort, class-wise greedy NMS."""
    f32 = np.float32
    sx, sy = f32(width) / f32(spec["width"]), f32(height) / f32(spec["height"])
    cands = []
    for r in rows:
        score, cls = r[4], r[5]
        if not (score >= f32(min_score) and np.isfinite(cls) and cls >= 0):
            continue
        box = [min(max(r[0] * sx, f32(0)), f32(width)), min(max(r[1] * sy, f32(0)), f32(height)),
               min(max(r[2] * sx, f32(0)), f32(width)), min(max(r[3] * sy, f32(0)), f32(height))]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        cands.append({"class_id": int(round(float(cls))), "score": float(score), "box": [float(v) for v in box]})
    cands.sort(key=lambda d: -d["score"])
    kept = []
    for d in cands:
        if all(k["class_id"] != d["class_id"] or iou(k["box"], d["box"]) <= NMS_IOU for k in kept):
            kept.append(d)
    return kept


# ---------------------------------------------------------------------------------------------
# Matching

def match(dets, persons):
    """dets: person detections sorted by score. Returns (tp, fn, fp, counted, per-det status)."""
    gts = [p for p in persons if not p.get("ignore")]
    igs = [p for p in persons if p.get("ignore")]
    used = [False] * len(gts)
    status = []
    for d in dets:
        best, bi = MATCH_IOU, -1
        for i, g in enumerate(gts):
            if not used[i]:
                v = iou(d["box"], g["box"])
                if v >= best:
                    best, bi = v, i
        if bi >= 0:
            used[bi] = True
            status.append("tp")
            continue
        ignored = False
        for g in igs:
            inter = iou_inter(d["box"], g["box"])
            if iou(d["box"], g["box"]) >= MATCH_IOU or (area(d["box"]) > 0 and inter / area(d["box"]) >= IGNORE_INSIDE):
                ignored = True
                break
        status.append("ignored" if ignored else "fp")
    tp = status.count("tp")
    fp = status.count("fp")
    return tp, len(gts) - tp, fp, tp + fp, status


def iou_inter(a, b):
    return max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)


# ---------------------------------------------------------------------------------------------

def load_rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def run_model(name, model_path, images, eval_dir, threads, min_score, repeats):
    import onnxruntime as ort

    spec = MODELS[name]["input"]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    out_name = MODELS[name]["output"]
    results = []
    for i, img in enumerate(images):
        rgb = load_rgb(eval_dir / img["file"])
        h, w, _ = rgb.shape
        if (w, h) != (img["width"], img["height"]):
            sys.exit(f"{img['file']}: {w}x{h}, labels say {img['width']}x{img['height']}")
        if i == 0:  # warm-up
            sess.run([out_name], {spec["name"]: preprocess(rgb, spec)})
        times, infer = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            tensor = preprocess(rgb, spec)
            t1 = time.perf_counter()
            rows = sess.run([out_name], {spec["name"]: tensor})[0][0]
            t2 = time.perf_counter()
            dets = postprocess(rows, w, h, spec, min_score)
            times.append((time.perf_counter() - t0) * 1000.0)
            infer.append((t2 - t1) * 1000.0)
        results.append({"dets": [d for d in dets if d["class_id"] == PERSON], "ms": statistics.median(times),
                        "infer_ms": statistics.median(infer)})
    return results


def evaluate(images, results, thr):
    rows = []
    for img, res in zip(images, results):
        dets = [d for d in res["dets"] if d["score"] >= thr]
        tp, fn, fp, counted, status = match(dets, img["persons"])
        labelled = tp + fn
        rows.append({"file": img["file"], "set": img.get("set", "all"), "tp": tp, "fn": fn, "fp": fp,
                     "counted": counted, "labelled": labelled, "status": status, "dets": dets})
    return rows


def summarise(rows):
    tp = sum(r["tp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    mae = sum(abs(r["counted"] - r["labelled"]) for r in rows) / max(len(rows), 1)
    return {"images": len(rows), "persons": tp + fn, "tp": tp, "fn": fn, "fp": fp,
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"), "count_mae": mae}


def draw(images, results_by_model, thr_by_model, eval_dir, out_dir):
    from PIL import Image, ImageDraw

    out_dir.mkdir(parents=True, exist_ok=True)
    for idx, img in enumerate(images):
        for name, results in results_by_model.items():
            im = Image.open(eval_dir / img["file"]).convert("RGB")
            dr = ImageDraw.Draw(im)
            for p in img["persons"]:
                dr.rectangle(p["box"], outline=(160, 160, 160) if p.get("ignore") else (0, 255, 0), width=1)
            for d in results[idx]["dets"]:
                if d["score"] >= thr_by_model[name]:
                    dr.rectangle(d["box"], outline=(255, 0, 0), width=1)
                    dr.text((d["box"][0] + 2, d["box"][1] + 1), f"{d['score']:.2f}", fill=(255, 0, 0))
            im.save(out_dir / f"{Path(img['file']).stem}.{name}.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", default=str(ROOT / "tests/data/eval/labels.json"))
    ap.add_argument("--model", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    ap.add_argument("--model-file", action="append", default=[], metavar="NAME=PATH",
                    help="ONNX file for a model (default: models/ then ../shared/assets/models/)")
    ap.add_argument("--thresholds", nargs="+", type=float, default=[0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6])
    ap.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per image (median)")
    ap.add_argument("--per-image", action="store_true")
    ap.add_argument("--draw", metavar="DIR", help="write overlays (at --draw-threshold) to DIR")
    ap.add_argument("--draw-threshold", type=float, default=0.3)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()

    import onnxruntime as ort

    labels_path = Path(args.labels)
    eval_dir = labels_path.parent
    doc = json.loads(labels_path.read_text())
    images = doc["images"]
    overrides = dict(s.split("=", 1) for s in args.model_file)
    min_score = min(args.thresholds + [args.draw_threshold])
    sets = sorted({img.get("set", "all") for img in images})
    n_persons = sum(1 for img in images for p in img["persons"] if not p.get("ignore"))
    n_ignore = sum(1 for img in images for p in img["persons"] if p.get("ignore"))
    print(f"{labels_path}: {len(images)} images, {n_persons} persons (+{n_ignore} ignore); "
          f"onnxruntime {ort.__version__}, {args.threads} thread(s), single pass, PIL decode")
    out = {"labels": str(labels_path), "threads": args.threads, "onnxruntime": ort.__version__, "models": {}}
    results_by_model = {}
    for name in args.model:
        path = find_model(name, overrides.get(name))
        results = run_model(name, path, images, eval_dir, args.threads, min_score, args.repeats)
        results_by_model[name] = results
        ms = [r["ms"] for r in results]
        inf = [r["infer_ms"] for r in results]
        print(f"\n== {name} ({path.name}, {MODELS[name]['input']['width']}x{MODELS[name]['input']['height']}) "
              f"ms/image: {statistics.median(ms):.1f} median, {statistics.mean(ms):.1f} mean "
              f"(numpy preprocess + inference + postprocess); inference alone {statistics.median(inf):.1f} median")
        hdr = f"{'thr':>5} {'set':<6} {'img':>3} {'pers':>4} {'TP':>4} {'FN':>4} {'FP':>4} {'recall':>7} {'prec':>7} {'MAE':>6}"
        print(hdr)
        out["models"][name] = {"file": path.name, "ms_median": statistics.median(ms), "ms_mean": statistics.mean(ms),
                               "infer_ms_median": statistics.median(inf), "thresholds": {}}
        for thr in args.thresholds:
            rows = evaluate(images, results, thr)
            entry = {}
            for s in ["all"] + (sets if len(sets) > 1 else []):
                sel = rows if s == "all" else [r for r in rows if r["set"] == s]
                m = summarise(sel)
                entry[s] = m
                print(f"{thr:5.2f} {s:<6} {m['images']:3d} {m['persons']:4d} {m['tp']:4d} {m['fn']:4d} {m['fp']:4d} "
                      f"{m['recall']:7.1%} {m['precision']:7.1%} {m['count_mae']:6.2f}")
            out["models"][name]["thresholds"][f"{thr:.2f}"] = entry
            if args.per_image:
                for r in rows:
                    print(f"      {r['file']:<28} labelled {r['labelled']:3d} counted {r['counted']:3d} "
                          f"TP {r['tp']:3d} FN {r['fn']:3d} FP {r['fp']:3d}")
    if args.draw:
        draw(images, results_by_model, {n: args.draw_threshold for n in results_by_model}, eval_dir, Path(args.draw))
        print(f"\noverlays in {args.draw} (green: labelled, grey: ignore, red: detections >= {args.draw_threshold})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
