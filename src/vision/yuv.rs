//! Decoded pictures in the decoder's own layout: planar 8-bit 4:2:0 ([`YuvFrame`], I420), and
//! [`Picture`], either that or packed RGB.
//!
//! H.264 and H.265 decoders output YUV. Picture diagnosis needs luma everywhere and colour only
//! on a 64x48 thumbnail, so a camera sampled for diagnosis alone is diagnosed on the I420
//! planes as they leave the decoder: no conversion of 440,000 pixels to RGB, half the bytes to
//! copy. A picture for the detector (which wants RGB) is still converted by the decoder's
//! pipeline.
//!
//! Levels: the diagnosis thresholds are full-range BT.601 luma levels of RGB pictures
//! ([`crate::vision::frame::luma_of`]). The Y plane of a limited-range ("TV", 16..=235) stream
//! is mapped to those levels by [`YuvFrame::luma_lut`]; for a BT.601 stream (SD) the result
//! equals the luma of the RGB picture videoconvert would make, within a level of rounding
//! (pixels whose RGB would clip excepted). An HD stream is BT.709: its Y weights the primaries
//! slightly differently from BT.601 (0.2126/0.7152/0.0722), so a saturated colour reads a few
//! levels apart from the RGB path; grey and near-grey pixels, which carry luma measures, agree.

use crate::vision::frame::{FrameError, RgbFrame};

/// The YUV ↔ RGB matrix of a stream (H.264/H.265 VUI `matrix_coefficients`, or GStreamer's
/// default for the resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    /// ITU-R BT.601 (SD).
    Bt601,
    /// ITU-R BT.709 (HD).
    Bt709,
}

impl Matrix {
    /// (Kr, Kb) of the matrix.
    fn kr_kb(self) -> (f32, f32) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        }
    }

    /// GStreamer's default for a picture of this height when the stream says nothing: BT.709
    /// from 720 lines up, BT.601 below (as `videoconvert` assumes).
    pub fn default_for_height(height: u32) -> Self {
        if height >= 720 {
            Matrix::Bt709
        } else {
            Matrix::Bt601
        }
    }
}

/// A decoded picture: planar YUV 4:2:0, 8 bits. `data` holds the Y plane (`width x height`),
/// then U, then V (each `ceil(width/2) x ceil(height/2)`), rows tightly packed.
#[derive(Clone, PartialEq, Eq)]
pub struct YuvFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Y, U and V planes, one after the other, no padding.
    pub data: Vec<u8>,
    /// The matrix the planes were encoded with.
    pub matrix: Matrix,
    /// Full range (0..=255, JPEG-style) rather than limited (Y 16..=235, U/V 16..=240).
    pub full_range: bool,
}

impl std::fmt::Debug for YuvFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YuvFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("data_len", &self.data.len())
            .field("matrix", &self.matrix)
            .field("full_range", &self.full_range)
            .finish()
    }
}

/// Bytes of `width x height` I420, or `None` on overflow.
fn i420_len(width: u32, height: u32) -> Option<usize> {
    let (w, h) = (width as usize, height as usize);
    let c = w.div_ceil(2).checked_mul(h.div_ceil(2))?;
    w.checked_mul(h)?.checked_add(c.checked_mul(2)?)
}

impl YuvFrame {
    /// A frame from its parts, checked: non-zero size and exactly the I420 length.
    pub fn new(
        width: u32,
        height: u32,
        data: Vec<u8>,
        matrix: Matrix,
        full_range: bool,
    ) -> Result<Self, FrameError> {
        let frame = Self {
            width,
            height,
            data,
            matrix,
            full_range,
        };
        frame.validate()?;
        Ok(frame)
    }

    /// Checks that the size is non-zero and `data` holds exactly the three planes.
    pub fn validate(&self) -> Result<(), FrameError> {
        let (width, height) = (self.width, self.height);
        if width == 0 || height == 0 {
            return Err(FrameError::Empty { width, height });
        }
        let expected = i420_len(width, height).unwrap_or(usize::MAX);
        if self.data.len() != expected {
            return Err(FrameError::PlanesSize {
                width,
                height,
                expected,
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// Width and height of the U and V planes.
    pub fn chroma_size(&self) -> (usize, usize) {
        (
            (self.width as usize).div_ceil(2),
            (self.height as usize).div_ceil(2),
        )
    }

    /// The Y plane.
    pub fn y(&self) -> &[u8] {
        &self.data[..self.width as usize * self.height as usize]
    }

    /// The U (Cb) plane.
    pub fn u(&self) -> &[u8] {
        let (cw, ch) = self.chroma_size();
        let start = self.width as usize * self.height as usize;
        &self.data[start..start + cw * ch]
    }

    /// The V (Cr) plane.
    pub fn v(&self) -> &[u8] {
        let (cw, ch) = self.chroma_size();
        let start = self.width as usize * self.height as usize + cw * ch;
        &self.data[start..start + cw * ch]
    }

    /// Y sample → full-range luma level (what the diagnosis thresholds are in): identity for a
    /// full-range stream, `(Y - 16) * 255 / 219` rounded and clamped for a limited one.
    pub fn luma_lut(&self) -> [u8; 256] {
        let mut lut = [0u8; 256];
        for (i, l) in lut.iter_mut().enumerate() {
            *l = if self.full_range {
                i as u8
            } else {
                ((i as f32 - 16.0) * 255.0 / 219.0)
                    .round()
                    .clamp(0.0, 255.0) as u8
            };
        }
        lut
    }

    /// The RGB colour of one (Y, U, V) triple (means of several samples allowed), rounded and
    /// clamped to 0..=255.
    pub fn rgb_of(&self, y: f32, u: f32, v: f32) -> [u8; 3] {
        let (kr, kb) = self.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y, pb, pr) = if self.full_range {
            (y / 255.0, (u - 128.0) / 255.0, (v - 128.0) / 255.0)
        } else {
            ((y - 16.0) / 219.0, (u - 128.0) / 224.0, (v - 128.0) / 224.0)
        };
        let r = y + 2.0 * (1.0 - kr) * pr;
        let b = y + 2.0 * (1.0 - kb) * pb;
        let g = (y - kr * r - kb * b) / kg;
        [r, g, b].map(|c| (c * 255.0).round().clamp(0.0, 255.0) as u8)
    }

    /// The picture as packed RGB (each pixel takes its 2x2 block's chroma). For tools and
    /// tests; the sampling path has the decoder convert when it needs RGB.
    pub fn to_rgb(&self) -> RgbFrame {
        let (w, cw) = (self.width as usize, self.chroma_size().0);
        let (yp, up, vp) = (self.y(), self.u(), self.v());
        let mut data = Vec::with_capacity(w * self.height as usize * 3);
        for (row, ys) in yp.chunks_exact(w).enumerate() {
            let c = (row / 2) * cw;
            for (x, &y) in ys.iter().enumerate() {
                let (u, v) = (up[c + x / 2], vp[c + x / 2]);
                data.extend_from_slice(&self.rgb_of(f32::from(y), f32::from(u), f32::from(v)));
            }
        }
        RgbFrame {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// An RGB picture encoded as I420 with `matrix` and range (chroma averaged over each 2x2
    /// block): what a camera's encoder does, for tests and tools.
    pub fn from_rgb(rgb: &RgbFrame, matrix: Matrix, full_range: bool) -> Self {
        let (w, h) = (rgb.width as usize, rgb.height as usize);
        let (kr, kb) = matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let ypb_pr = |p: [u8; 3]| {
            let [r, g, b] = p.map(|c| f32::from(c) / 255.0);
            let y = kr * r + kg * g + kb * b;
            (
                y,
                (b - y) / (2.0 * (1.0 - kb)),
                (r - y) / (2.0 * (1.0 - kr)),
            )
        };
        let (ys, cs, y0) = if full_range {
            (255.0, 255.0, 0.0)
        } else {
            (219.0, 224.0, 16.0)
        };
        let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut data = Vec::with_capacity(w * h + 2 * cw * ch);
        for y in 0..h {
            for x in 0..w {
                let p = rgb.pixel(x as u32, y as u32);
                data.push(q(y0 + ys * ypb_pr(p).0));
            }
        }
        let mut u = Vec::with_capacity(cw * ch);
        let mut v = Vec::with_capacity(cw * ch);
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut sb, mut sr, mut n) = (0.0, 0.0, 0.0);
                for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, y) = (cx * 2 + x, cy * 2 + y);
                    if x < w && y < h {
                        let (_, pb, pr) = ypb_pr(rgb.pixel(x as u32, y as u32));
                        (sb, sr, n) = (sb + pb, sr + pr, n + 1.0);
                    }
                }
                u.push(q(128.0 + cs * sb / n));
                v.push(q(128.0 + cs * sr / n));
            }
        }
        data.extend_from_slice(&u);
        data.extend_from_slice(&v);
        Self {
            width: rgb.width,
            height: rgb.height,
            data,
            matrix,
            full_range,
        }
    }

    /// The same picture in full range (a copy; `self` when it already is): what a JPEG
    /// (JFIF) holds.
    pub fn to_full_range(&self) -> YuvFrame {
        if self.full_range {
            return self.clone();
        }
        let ylut = self.luma_lut();
        let mut clut = [0u8; 256];
        for (i, c) in clut.iter_mut().enumerate() {
            *c = (128.0 + (i as f32 - 128.0) * 255.0 / 224.0)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
        let n = self.width as usize * self.height as usize;
        let data = self
            .data
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                if i < n {
                    ylut[s as usize]
                } else {
                    clut[s as usize]
                }
            })
            .collect();
        YuvFrame {
            data,
            full_range: true,
            ..self.clone()
        }
    }
}

/// A decoded picture in whichever layout the decoder was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picture {
    /// Packed RGB24 (for the detector, or from image files).
    Rgb(RgbFrame),
    /// Planar I420 straight from the video decoder (for diagnosis and snapshots).
    Yuv(YuvFrame),
}

impl Picture {
    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Picture::Rgb(f) => (f.width, f.height),
            Picture::Yuv(f) => (f.width, f.height),
        }
    }

    /// The picture as RGB (converted when it is YUV).
    pub fn into_rgb(self) -> RgbFrame {
        match self {
            Picture::Rgb(f) => f,
            Picture::Yuv(f) => f.to_rgb(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours() -> RgbFrame {
        RgbFrame::from_fn(37, 21, |x, y| {
            [
                (x * 7 % 256) as u8,
                (y * 12 % 256) as u8,
                ((x + y) * 5 % 256) as u8,
            ]
        })
    }

    #[test]
    fn planes_have_the_i420_layout_and_odd_sizes_round_up() {
        let f = YuvFrame::from_rgb(&colours(), Matrix::Bt601, false);
        assert_eq!(f.chroma_size(), (19, 11));
        assert_eq!(f.data.len(), 37 * 21 + 2 * 19 * 11);
        assert_eq!((f.y().len(), f.u().len(), f.v().len()), (777, 209, 209));
        assert!(f.validate().is_ok());
        let short = YuvFrame {
            data: vec![0; 10],
            ..f.clone()
        };
        assert!(matches!(
            short.validate(),
            Err(FrameError::PlanesSize {
                expected: 1195,
                actual: 10,
                ..
            })
        ));
    }

    #[test]
    fn rgb_round_trip_within_chroma_subsampling() {
        // Flat colour blocks of 2x2 so subsampling loses nothing: only rounding is left.
        let rgb = RgbFrame::from_fn(16, 8, |x, y| {
            let (bx, by) = (x / 2, y / 2);
            [
                (bx * 30 + 10) as u8,
                (by * 50 + 20) as u8,
                (200 - bx * 20) as u8,
            ]
        });
        for (m, full) in [
            (Matrix::Bt601, false),
            (Matrix::Bt601, true),
            (Matrix::Bt709, false),
            (Matrix::Bt709, true),
        ] {
            let back = YuvFrame::from_rgb(&rgb, m, full).to_rgb();
            let worst = rgb
                .data
                .iter()
                .zip(&back.data)
                .map(|(&a, &b)| (i16::from(a) - i16::from(b)).abs())
                .max()
                .unwrap();
            assert!(worst <= 2, "{m:?} full={full}: worst channel error {worst}");
        }
    }

    #[test]
    fn limited_range_luma_maps_to_full_range_levels_of_the_rgb_picture() {
        let rgb = colours();
        let f = YuvFrame::from_rgb(&rgb, Matrix::Bt601, false);
        let lut = f.luma_lut();
        assert_eq!((lut[16], lut[235], lut[0], lut[255]), (0, 255, 0, 255));
        for (i, p) in rgb.data.chunks_exact(3).enumerate() {
            let want = i16::from(crate::vision::frame::luma_of(p[0], p[1], p[2]));
            let got = i16::from(lut[f.y()[i] as usize]);
            assert!((want - got).abs() <= 1, "pixel {i}: {want} vs {got}");
        }
        assert_eq!(
            YuvFrame {
                full_range: true,
                ..f
            }
            .luma_lut()[77],
            77
        );
    }

    #[test]
    fn full_range_copy_keeps_the_colours() {
        let rgb = colours();
        let limited = YuvFrame::from_rgb(&rgb, Matrix::Bt601, false);
        let full = limited.to_full_range();
        assert!(full.full_range);
        let (a, b) = (limited.to_rgb(), full.to_rgb());
        let worst = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| (i16::from(x) - i16::from(y)).abs())
            .max()
            .unwrap();
        assert!(worst <= 3, "worst channel error {worst}");
    }

    #[test]
    fn default_matrix_by_height() {
        assert_eq!(Matrix::default_for_height(576), Matrix::Bt601);
        assert_eq!(Matrix::default_for_height(720), Matrix::Bt709);
    }
}
