//! The pure measurements behind the diagnosis, each on the smallest picture that still shows
//! what it measures:
//!
//! - the full-resolution frame, read once, row by row ([`scan`]): row and column luma profiles
//!   (stripes), isolated impulse pixels on every [`NOISE_ROW_STEP`]th row (snow noise), and the
//!   box averages that make the two smaller pictures below;
//! - the *working* luma (box-downscaled to at most `work_max_width`, 256x192 for 768x576):
//!   mean luma, Laplacian, per-cell luma deviation, gradient, and from the gradient the
//!   edge-energy map (≤ [`EDGE_MAX_WIDTH`] wide) compared for scene change;
//! - the colour thumbnail (≤ [`THUMB_MAX_WIDTH`] wide, 64x48 for 768x576): CIELAB cast
//!   statistics, and its luma is the thumbnail compared for the frozen test.

use std::sync::LazyLock;

use crate::vision::frame::{RgbFrame, luma_of};
use crate::vision::yuv::YuvFrame;

/// Only every this many rows is scanned for impulse pixels (the estimate needs a sample, not
/// every pixel): 1 row in 4 of a 576-line frame is ~110,000 pixels tested.
pub(super) const NOISE_ROW_STEP: usize = 4;
/// Width bound of the luma thumbnail compared by the frozen test (64x48 for 4:3 pictures).
pub(super) const THUMB_MAX_WIDTH: usize = 64;
/// Width bound of the edge-energy map compared by the scene-change test (32x24 for 4:3).
pub(super) const EDGE_MAX_WIDTH: usize = 32;
/// The occlusion grid is about this many cells wide (16x12 cells for 4:3 pictures).
pub(super) const GRID_CELLS_ACROSS: usize = 16;

/// An 8-bit grey picture (the working luma or a thumbnail).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Grey {
    pub w: usize,
    pub h: usize,
    pub data: Vec<u8>,
}

impl Grey {
    /// The BT.601 luma of an RGB picture.
    pub fn of(frame: &RgbFrame) -> Self {
        Grey {
            w: frame.width as usize,
            h: frame.height as usize,
            data: frame
                .data
                .chunks_exact(3)
                .map(|p| luma_of(p[0], p[1], p[2]))
                .collect(),
        }
    }

    /// Standard deviation of the samples around `mean`, levels (0 when empty): the picture's
    /// overall contrast.
    pub fn std_around(&self, mean: f32) -> f32 {
        if self.data.is_empty() {
            return 0.0;
        }
        let m = f64::from(mean);
        let var = self
            .data
            .iter()
            .map(|&v| (f64::from(v) - m).powi(2))
            .sum::<f64>()
            / self.data.len() as f64;
        var.sqrt() as f32
    }

    /// Mean of the samples, levels (0 when empty).
    pub fn mean(&self) -> f32 {
        if self.data.is_empty() {
            return 0.0;
        }
        (self.data.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / self.data.len() as f64)
            as f32
    }
}

/// A decoded picture as [`scan`] reads it: luma row by row, and the mean colour of blocks.
pub(super) trait ScanSource {
    /// Width and height in pixels.
    fn size(&self) -> (usize, usize);
    /// Writes the full-range BT.601-style luma of row `y` into `out` (`width` long).
    fn luma_row(&self, y: usize, out: &mut [u8]);
    /// The colour thumbnail: `tw x th` blocks of `k x k` pixels from the top left, the mean
    /// colour of each.
    fn thumbnail(&self, k: usize, tw: usize, th: usize) -> RgbFrame;
}

impl ScanSource for RgbFrame {
    fn size(&self) -> (usize, usize) {
        (self.width as usize, self.height as usize)
    }

    fn luma_row(&self, y: usize, out: &mut [u8]) {
        let row = &self.data[y * self.stride()..][..self.stride()];
        for (l, p) in out.iter_mut().zip(row.chunks_exact(3)) {
            *l = luma_of(p[0], p[1], p[2]);
        }
    }

    fn thumbnail(&self, k: usize, tw: usize, th: usize) -> RgbFrame {
        let area = (k * k) as u32;
        let mut acc = vec![0u32; tw * 3];
        let mut thumb = Vec::with_capacity(tw * th * 3);
        for (y, src) in self
            .data
            .chunks_exact(self.stride())
            .take(th * k)
            .enumerate()
        {
            for (a, block) in acc.chunks_exact_mut(3).zip(src.chunks_exact(k * 3)) {
                let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                for p in block.chunks_exact(3) {
                    r += u32::from(p[0]);
                    g += u32::from(p[1]);
                    b += u32::from(p[2]);
                }
                a[0] += r;
                a[1] += g;
                a[2] += b;
            }
            if y % k == k - 1 {
                thumb.extend(acc.iter().map(|&s| ((s + area / 2) / area) as u8));
                acc.fill(0);
            }
        }
        RgbFrame {
            width: tw as u32,
            height: th as u32,
            data: thumb,
        }
    }
}

/// The I420 planes: luma through [`YuvFrame::luma_lut`], the thumbnail's colour from each
/// block's mean Y, U and V (the conversion is linear, so this is the mean of the RGB pixels
/// but where they would clip).
pub(super) struct YuvSource<'a> {
    frame: &'a YuvFrame,
    lut: [u8; 256],
}

impl<'a> YuvSource<'a> {
    pub fn new(frame: &'a YuvFrame) -> Self {
        Self {
            frame,
            lut: frame.luma_lut(),
        }
    }
}

impl ScanSource for YuvSource<'_> {
    fn size(&self) -> (usize, usize) {
        (self.frame.width as usize, self.frame.height as usize)
    }

    fn luma_row(&self, y: usize, out: &mut [u8]) {
        let w = self.frame.width as usize;
        for (l, &s) in out.iter_mut().zip(&self.frame.y()[y * w..(y + 1) * w]) {
            *l = self.lut[s as usize];
        }
    }

    fn thumbnail(&self, k: usize, tw: usize, th: usize) -> RgbFrame {
        let f = self.frame;
        let w = f.width as usize;
        let cw = f.chroma_size().0;
        // Mean of one plane over the samples [x0, x1) x [y0, y1).
        let mean = |plane: &[u8], stride: usize, x0: usize, x1: usize, y0: usize, y1: usize| {
            let mut sum = 0u32;
            for row in plane[y0 * stride..y1 * stride].chunks_exact(stride) {
                sum += row[x0..x1].iter().map(|&v| u32::from(v)).sum::<u32>();
            }
            sum as f32 / ((x1 - x0) * (y1 - y0)).max(1) as f32
        };
        let mut data = Vec::with_capacity(tw * th * 3);
        for by in 0..th {
            for bx in 0..tw {
                let (x0, x1, y0, y1) = (bx * k, (bx + 1) * k, by * k, (by + 1) * k);
                let y = mean(f.y(), w, x0, x1, y0, y1);
                // The chroma samples under the block (exact when k is even).
                let (cx0, cx1) = (x0 / 2, (x1 / 2).max(x0 / 2 + 1));
                let (cy0, cy1) = (y0 / 2, (y1 / 2).max(y0 / 2 + 1));
                let u = mean(f.u(), cw, cx0, cx1, cy0, cy1);
                let v = mean(f.v(), cw, cx0, cx1, cy0, cy1);
                data.extend_from_slice(&f.rgb_of(y, u, v));
            }
        }
        RgbFrame {
            width: tw as u32,
            height: th as u32,
            data,
        }
    }
}

/// What one read of the full-resolution frame yields.
#[derive(Debug, Clone)]
pub(super) struct Scan {
    /// The working luma: the frame's luma box-averaged over `k x k` blocks.
    pub work: Grey,
    /// The colour thumbnail, at most [`THUMB_MAX_WIDTH`] wide, averaged from the full frame.
    pub thumb_rgb: RgbFrame,
    /// Mean luma of each full-resolution row, levels.
    pub rows: Vec<f32>,
    /// Mean luma of each full-resolution column, levels.
    pub cols: Vec<f32>,
    /// Fraction of the tested pixels that are impulses.
    pub noise_ratio: f32,
}

/// One pass over the full-resolution luma, row by row: row and column luma profiles
/// (stripes), the working luma (box filter by the integer factor that brings the width to
/// `max_width` or less) and, on every [`NOISE_ROW_STEP`]th row, the impulse count (snow
/// noise); then the colour thumbnail ([`ScanSource::thumbnail`]).
///
/// A pixel is an impulse when it is brighter than all four of its neighbours (left, right, up,
/// down) by more than `delta` levels, or darker than all of them by more than `delta`: an
/// isolated speck. Compressed video of a real scene has almost none (the encoder removes them);
/// salt-and-pepper and analogue snow put them everywhere.
///
/// `frame` must be valid ([`RgbFrame::validate`], [`YuvFrame::validate`]).
pub(super) fn scan(frame: &impl ScanSource, max_width: u32, delta: u8) -> Scan {
    let (w, h) = frame.size();
    let k = (w.div_ceil(max_width.max(1) as usize).max(1)).min(w).min(h);
    let (ow, oh) = (w / k, h / k);
    let k2 = ow.div_ceil(THUMB_MAX_WIDTH).min(ow).min(oh).max(1);
    let (tw, th) = (ow / k2, oh / k2);
    let kt = k * k2;
    let work_area = (k * k) as u32;

    let mut ring = [vec![0u8; w], vec![0u8; w], vec![0u8; w]];
    let mut col_sums = vec![0u32; w];
    let mut rows = Vec::with_capacity(h);
    let mut work_acc = vec![0u32; ow];
    let mut work = Vec::with_capacity(ow * oh);
    let (mut impulses, mut tested) = (0u64, 0u64);
    let delta = i16::from(delta);

    for y in 0..h {
        frame.luma_row(y, &mut ring[y % 3]);
        let cur = &ring[y % 3];
        let mut row_sum = 0u32;
        for (c, &l) in col_sums.iter_mut().zip(cur) {
            *c += u32::from(l);
            row_sum += u32::from(l);
        }
        rows.push(row_sum as f32 / w as f32);

        if y < oh * k {
            for (a, block) in work_acc.iter_mut().zip(cur.chunks_exact(k)) {
                *a += block.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
            if y % k == k - 1 {
                work.extend(
                    work_acc
                        .iter()
                        .map(|&s| ((s + work_area / 2) / work_area) as u8),
                );
                work_acc.fill(0);
            }
        }
        // Row y - 1 is tested once its lower neighbour (row y) is in the ring.
        if y >= 2 && w >= 3 && (y - 1) % NOISE_ROW_STEP == 1 % NOISE_ROW_STEP {
            let (up, mid, down) = (&ring[(y - 2) % 3], &ring[(y - 1) % 3], &ring[y % 3]);
            let (up, down) = (&up[1..w - 1], &down[1..w - 1]);
            for ((m3, &u), &d) in mid.windows(3).zip(up).zip(down) {
                let c = i16::from(m3[1]);
                let n = [m3[0], m3[2], u, d].map(i16::from);
                let hi = n[0].max(n[1]).max(n[2]).max(n[3]);
                let lo = n[0].min(n[1]).min(n[2]).min(n[3]);
                impulses += u64::from(c > hi + delta || c < lo - delta);
            }
            tested += (w - 2) as u64;
        }
    }
    let noise_ratio = if tested == 0 {
        0.0
    } else {
        (impulses as f64 / tested as f64) as f32
    };
    Scan {
        work: Grey {
            w: ow,
            h: oh,
            data: work,
        },
        thumb_rgb: frame.thumbnail(kt, tw, th),
        rows,
        cols: col_sums.iter().map(|&c| c as f32 / h as f32).collect(),
        noise_ratio,
    }
}

/// Periodic structure in a profile: `(score, amplitude, period)`.
///
/// The profile is high-passed (minus its running median over `2 * pmax + 1` samples, which
/// removes the scene's large shapes, horizon, lawn edge, building, without smearing their
/// steps), Hann-windowed, and its amplitude spectrum taken at every DFT bin whose period lies
/// between 3 samples and `pmax = len / 16`. A stripe pattern is a narrow peak; a scene's
/// residual is broadband. `score` is the highest ratio of a bin's amplitude to the median
/// amplitude of the bins around it (±[`STRIPE_CONTEXT_BINS`], the peak's own ±2 bins left
/// out); `amplitude` is that bin's amplitude in levels (a sine of amplitude A added to every
/// row reads about A, 0.85 A when it falls between two bins) and `period` its period in samples.
/// Broadband noise gives scores around 2 to 3.
pub(super) fn periodicity(profile: &[f32]) -> (f32, f32, f32) {
    const PMIN: usize = 3;
    let n = profile.len();
    let pmax = (n / 16).max(2 * PMIN);
    if n < 2 * pmax + 8 * PMIN {
        return (0.0, 0.0, 0.0);
    }
    // Running median: keeps the steps of the scene's profile, which a moving average would
    // smear into broad ramps, out of the residual. The window is kept sorted: one removal and
    // one insertion per step.
    let mut window: Vec<f32> = profile[..=2 * pmax].to_vec();
    window.sort_unstable_by(f32::total_cmp);
    let mut residual = Vec::with_capacity(n - 2 * pmax);
    for i in pmax..n - pmax {
        if i > pmax {
            let out = profile[i - pmax - 1];
            let at = window.partition_point(|v| v.total_cmp(&out).is_lt());
            window.remove(at);
            let new = profile[i + pmax];
            let at = window.partition_point(|v| v.total_cmp(&new).is_lt());
            window.insert(at, new);
        }
        residual.push(profile[i] - window[pmax]);
    }
    let m = residual.len();
    let hann: Vec<f32> = (0..m)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / (m - 1) as f32).cos())
        .collect();
    let wsum: f32 = hann.iter().sum();
    let x: Vec<f32> = residual.iter().zip(&hann).map(|(&r, &w)| r * w).collect();
    let (k_lo, k_hi) = (m.div_ceil(pmax), m / PMIN);
    let first = k_lo.saturating_sub(STRIPE_CONTEXT_BINS).max(1);
    let last = (k_hi + STRIPE_CONTEXT_BINS).min(m / 2);
    // Goertzel: the amplitude of one DFT bin in one pass of one multiply per sample; eight
    // bins at a time, so the passes are independent and vectorise.
    let bins: Vec<usize> = (first..=last).collect();
    let mut amp = Vec::with_capacity(bins.len());
    for group in bins.chunks(8) {
        let mut coeff = [0f32; 8];
        for (c, &k) in coeff.iter_mut().zip(group) {
            *c = (2.0 * (std::f64::consts::TAU * k as f64 / m as f64).cos()) as f32;
        }
        let (mut s1, mut s2) = ([0f32; 8], [0f32; 8]);
        for &v in &x {
            for j in 0..8 {
                let s0 = v + coeff[j] * s1[j] - s2[j];
                s2[j] = s1[j];
                s1[j] = s0;
            }
        }
        for j in 0..group.len() {
            let power = (s1[j] * s1[j] + s2[j] * s2[j] - coeff[j] * s1[j] * s2[j]).max(0.0);
            amp.push(2.0 * power.sqrt() / wsum);
        }
    }
    let mut best = (0.0f32, 0.0f32, 0.0f32);
    let mut context = Vec::with_capacity(2 * STRIPE_CONTEXT_BINS);
    for k in k_lo..=k_hi {
        let i = k - first;
        context.clear();
        for j in
            k.saturating_sub(STRIPE_CONTEXT_BINS).max(first)..=(k + STRIPE_CONTEXT_BINS).min(last)
        {
            if j.abs_diff(k) > 2 {
                context.push(amp[j - first]);
            }
        }
        if context.is_empty() {
            continue;
        }
        let mid = context.len() / 2;
        let (_, background, _) = context.select_nth_unstable_by(mid, f32::total_cmp);
        // Floor: a quarter level, below which nothing on the picture is visible anyway.
        let score = amp[i] / background.max(0.25);
        if score > best.0 {
            best = (score, amp[i], m as f32 / k as f32);
        }
    }
    best
}

/// Bins each side of a candidate peak that form its background in [`periodicity`].
pub(super) const STRIPE_CONTEXT_BINS: usize = 8;

/// Texture statistics of the working luma on a grid of square cells.
#[derive(Debug, Clone)]
pub(super) struct Texture {
    /// Standard deviation of luma inside each cell, levels, row-major.
    pub cell_std: Vec<f32>,
    /// Sum and sum of squares of the 4-neighbour Laplacian, and pixel count, per cell.
    pub cell_lap: Vec<(f64, f64, u32)>,
    /// Gradient energy (|dx| + |dy|, central differences) per pixel, for the edge map.
    pub gradient: Vec<u16>,
}

/// Grid cell side in working pixels for a picture `w` wide.
pub(super) fn cell_side(w: usize) -> usize {
    (w / GRID_CELLS_ACROSS).max(4)
}

/// Laplacian, gradient and per-cell statistics of the working luma, one pass. Pixels of the
/// right and bottom margins that do not fill a whole cell count with the last cell.
pub(super) fn texture(g: &Grey) -> Texture {
    let (w, h) = (g.w, g.h);
    let side = cell_side(w);
    let (cx, cy) = ((w / side).max(1), (h / side).max(1));
    let mut cell_sum = vec![(0u64, 0u64, 0u32); cx * cy];
    let mut cell_lap = vec![(0.0f64, 0.0f64, 0u32); cx * cy];
    let mut gradient = vec![0u16; w * h];
    let d = &g.data;
    for y in 0..h {
        let cyi = (y / side).min(cy - 1);
        for x in 0..w {
            let cxi = (x / side).min(cx - 1);
            let c = i32::from(d[y * w + x]);
            let cell = cyi * cx + cxi;
            let s = &mut cell_sum[cell];
            s.0 += c as u64;
            s.1 += (c * c) as u64;
            s.2 += 1;
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                continue;
            }
            let (l, r) = (i32::from(d[y * w + x - 1]), i32::from(d[y * w + x + 1]));
            let (u, dn) = (i32::from(d[(y - 1) * w + x]), i32::from(d[(y + 1) * w + x]));
            let lap = 4 * c - l - r - u - dn;
            let cl = &mut cell_lap[cell];
            cl.0 += f64::from(lap);
            cl.1 += f64::from(lap * lap);
            cl.2 += 1;
            gradient[y * w + x] = ((r - l).abs() + (dn - u).abs()) as u16;
        }
    }
    let cell_std = cell_sum
        .iter()
        .map(|&(s, sq, n)| {
            if n == 0 {
                return 0.0;
            }
            let n = f64::from(n);
            let mean = s as f64 / n;
            ((sq as f64 / n - mean * mean).max(0.0)).sqrt() as f32
        })
        .collect();
    Texture {
        cell_std,
        cell_lap,
        gradient,
    }
}

/// Laplacian variance over the cells selected by `keep`, or `None` when no pixel is selected.
pub(super) fn laplacian_var_of(
    cells: &[(f64, f64, u32)],
    keep: impl Fn(usize) -> bool,
) -> Option<f32> {
    let (mut s, mut sq, mut n) = (0.0f64, 0.0f64, 0u64);
    for (i, &(cs, csq, cn)) in cells.iter().enumerate() {
        if keep(i) {
            s += cs;
            sq += csq;
            n += u64::from(cn);
        }
    }
    (n > 0).then(|| {
        let n = n as f64;
        let mean = s / n;
        (sq / n - mean * mean).max(0.0) as f32
    })
}

/// A gradient-energy map: the gradient summed over blocks, normalised to a mean of 1 (so a
/// change of exposure or contrast alone does not change it).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct EdgeMap {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl EdgeMap {
    /// Correlation with another map of the same size; `None` if sizes differ or either is flat.
    pub fn correlation(&self, other: &EdgeMap) -> Option<f32> {
        if (self.w, self.h) != (other.w, other.h) {
            return None;
        }
        correlation(&self.data, &other.data)
    }
}

/// The gradient of a `w x h` picture summed over `k x k` blocks (see [`EdgeMap`]).
pub(super) fn edge_map(gradient: &[u16], w: usize, h: usize, k: usize) -> EdgeMap {
    let k = k.max(1).min(w.max(1)).min(h.max(1));
    let (ow, oh) = ((w / k).max(1), (h / k).max(1));
    let mut data = vec![0f32; ow * oh];
    for y in 0..(oh * k).min(h) {
        let row = &gradient[y * w..][..(ow * k).min(w)];
        let out = &mut data[(y / k) * ow..][..ow];
        for (x, &g) in row.iter().enumerate() {
            out[x / k] += f32::from(g);
        }
    }
    let mean = data.iter().sum::<f32>() / data.len() as f32;
    if mean > 0.0 {
        data.iter_mut().for_each(|v| *v /= mean);
    }
    EdgeMap { w: ow, h: oh, data }
}

/// Pearson correlation of two equally long series; `None` when either is (nearly) constant.
pub(super) fn correlation(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let n = a.len() as f64;
    let ma = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let mb = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    // Relative variance below 1e-6 of the mean square: a flat map (black picture, flat card).
    let flat = |s: f64, m: f64| s / n < 1e-6 * (m * m).max(1e-12);
    if flat(saa, ma) || flat(sbb, mb) {
        return None;
    }
    Some((sab / (saa * sbb).sqrt()) as f32)
}

/// Mean absolute difference of two equally sized grey pictures, levels.
pub(super) fn mean_abs_diff(a: &Grey, b: &Grey) -> Option<f32> {
    if (a.w, a.h) != (b.w, b.h) || a.data.is_empty() {
        return None;
    }
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    Some((sum as f64 / a.data.len() as f64) as f32)
}

/// sRGB 8-bit to linear light.
static SRGB_LINEAR: LazyLock<[f32; 256]> = LazyLock::new(|| {
    std::array::from_fn(|i| {
        let c = i as f32 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    })
});

/// CIELAB `(a*, b*)` of an sRGB pixel (D65).
fn lab_ab(p: &[u8]) -> (f32, f32) {
    let lin = &*SRGB_LINEAR;
    let (r, g, b) = (lin[p[0] as usize], lin[p[1] as usize], lin[p[2] as usize]);
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| {
        const E: f32 = 216.0 / 24389.0;
        if t > E {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    (500.0 * (fx - fy), 200.0 * (fy - fz))
}

/// Colour-cast statistics on a (thumbnail) RGB picture: `(K, D)`.
///
/// `D` is the distance of the mean chroma `(mean a*, mean b*)` from neutral, in CIELAB units;
/// `M` the chroma spread (`hypot` of the mean absolute deviations of a* and b*); `K = D / M`,
/// the "equivalent circle" cast factor of Chinese VQD practice: a picture whose colours
/// cluster tightly around an off-neutral point has a cast; one whose colours spread widely
/// around its mean, however coloured the scene, does not.
pub(super) fn colour_cast(rgb: &RgbFrame) -> (f32, f32) {
    let ab: Vec<(f32, f32)> = rgb.data.chunks_exact(3).map(lab_ab).collect();
    if ab.is_empty() {
        return (0.0, 0.0);
    }
    let n = ab.len() as f32;
    let ma = ab.iter().map(|v| v.0).sum::<f32>() / n;
    let mb = ab.iter().map(|v| v.1).sum::<f32>() / n;
    let sa = ab.iter().map(|v| (v.0 - ma).abs()).sum::<f32>() / n;
    let sb = ab.iter().map(|v| (v.1 - mb).abs()).sum::<f32>() / n;
    let d = ma.hypot(mb);
    let m = sa.hypot(sb);
    (d / m.max(0.5), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_of_primaries() {
        let (a, b) = lab_ab(&[128, 128, 128]);
        assert!(a.abs() < 0.5 && b.abs() < 0.5, "grey is neutral: {a} {b}");
        let (a, b) = lab_ab(&[255, 0, 0]);
        assert!(
            (a - 80.1).abs() < 1.0 && (b - 67.2).abs() < 1.0,
            "red: {a} {b}"
        );
        let (_, b) = lab_ab(&[0, 0, 255]);
        assert!((b + 107.9).abs() < 1.0, "blue: {b}");
    }

    #[test]
    fn periodicity_finds_a_sine_and_not_a_ramp() {
        let sine: Vec<f32> = (0..576)
            .map(|i| 100.0 + 5.0 * (i as f32 * std::f32::consts::TAU / 12.0).sin())
            .collect();
        let (s, a, p) = periodicity(&sine);
        assert!(
            s > 10.0 && (a - 5.0).abs() < 1.0 && (p - 12.0).abs() < 0.5,
            "{s} {a} {p}"
        );
        let ramp: Vec<f32> = (0..576).map(|i| (i as f32 * 0.3).min(120.0)).collect();
        let (s, a, _) = periodicity(&ramp);
        assert!(s < 3.0 && a < 0.5, "{s} {a}");
    }

    #[test]
    fn correlation_edge_cases() {
        assert_eq!(correlation(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        let c = correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap();
        assert!(c > 0.99);
        assert_eq!(correlation(&[1.0], &[1.0, 2.0]), None);
    }
}
