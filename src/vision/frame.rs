//! Decoded pictures: [`RgbFrame`] (packed RGB24), its luma plane ([`LumaPlane`]), a cheap box
//! downscale used by the quality diagnosis, and PPM (P6) reading and writing for tests and tools.
//!
//! Nothing here decodes video: a frame comes from whatever decoder samples the stream (or from
//! `ffmpeg -f image2pipe -vcodec ppm` in tests). The crate carries no image library; PPM is
//! enough to move frames in and out, and every PPM writer (ffmpeg, GStreamer `pnmenc`, ImageMagick)
//! produces the subset read here.
//!
//! Luma is BT.601 (`Y = 0.299 R + 0.587 G + 0.114 B`, integer approximation), on the full
//! 0..=255 range of the RGB samples: the diagnosis thresholds are expressed in those levels.

use std::fmt;

/// Why bytes or dimensions do not make a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Width or height is zero.
    #[error("frame has no pixels ({width}x{height})")]
    Empty {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// `data` does not hold exactly `width * height * 3` bytes.
    #[error("frame {width}x{height} needs {expected} bytes of RGB24, got {actual}")]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// `width * height * 3`.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// `data` does not hold exactly the three planes of `width x height` I420.
    #[error("frame {width}x{height} needs {expected} bytes of I420, got {actual}")]
    PlanesSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Y plane plus two quarter-size chroma planes (sides rounded up).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The bytes are not a PPM (P6, maxval 255) picture.
    #[error("not a binary PPM (P6, 8-bit): {0}")]
    Ppm(String),
}

/// A decoded picture: packed RGB24, rows top to bottom, row stride `width * 3`, no padding.
///
/// The fields are public so decoders can hand over their buffer without a copy; [`validate`]
/// (or building through [`RgbFrame::new`]) checks that they agree.
///
/// [`validate`]: RgbFrame::validate
#[derive(Clone, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes: R, G, B of each pixel, row after row.
    pub data: Vec<u8>,
}

impl fmt::Debug for RgbFrame {
    // The pixel bytes are useless in a debug print (and megabytes long).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RgbFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Bytes needed for `width x height` RGB24, or `None` on overflow.
fn rgb_len(width: u32, height: u32) -> Option<usize> {
    (width as usize)
        .checked_mul(height as usize)?
        .checked_mul(3)
}

/// The BT.601 luma of one RGB pixel, rounded, 0..=255.
#[inline]
pub fn luma_of(r: u8, g: u8, b: u8) -> u8 {
    // 77 + 150 + 29 = 256: the weights 0.299, 0.587, 0.114 in 1/256 steps.
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8) as u8
}

impl RgbFrame {
    /// A frame from its parts, checked: non-zero size and exactly `width * height * 3` bytes.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self, FrameError> {
        let frame = Self {
            width,
            height,
            data,
        };
        frame.validate()?;
        Ok(frame)
    }

    /// A frame of one colour. Panics if `width` or `height` is zero (a programming error).
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Self {
        assert!(width > 0 && height > 0, "frame size must be non-zero");
        let len = rgb_len(width, height).expect("frame size overflows memory");
        let mut data = Vec::with_capacity(len);
        for _ in 0..(width as usize * height as usize) {
            data.extend_from_slice(&rgb);
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// A frame whose pixel `(x, y)` is `f(x, y)`. Panics if `width` or `height` is zero.
    pub fn from_fn(width: u32, height: u32, mut f: impl FnMut(u32, u32) -> [u8; 3]) -> Self {
        assert!(width > 0 && height > 0, "frame size must be non-zero");
        let len = rgb_len(width, height).expect("frame size overflows memory");
        let mut data = Vec::with_capacity(len);
        for y in 0..height {
            for x in 0..width {
                data.extend_from_slice(&f(x, y));
            }
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// Checks that the size is non-zero and `data` holds exactly `width * height * 3` bytes.
    pub fn validate(&self) -> Result<(), FrameError> {
        if self.width == 0 || self.height == 0 {
            return Err(FrameError::Empty {
                width: self.width,
                height: self.height,
            });
        }
        let expected = rgb_len(self.width, self.height).unwrap_or(usize::MAX);
        if self.data.len() != expected {
            return Err(FrameError::Size {
                width: self.width,
                height: self.height,
                expected,
                actual: self.data.len(),
            });
        }
        Ok(())
    }

    /// Bytes per row (`width * 3`).
    pub fn stride(&self) -> usize {
        self.width as usize * 3
    }

    /// The pixel at `(x, y)`. Panics when outside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel outside the frame");
        let i = y as usize * self.stride() + x as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Sets the pixel at `(x, y)`. Panics when outside the frame.
    pub fn set_pixel(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        assert!(x < self.width && y < self.height, "pixel outside the frame");
        let i = y as usize * self.stride() + x as usize * 3;
        self.data[i..i + 3].copy_from_slice(&rgb);
    }

    /// The `w x h` rectangle whose top-left corner is `(x, y)`, clipped to the frame (at least
    /// one pixel).
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> RgbFrame {
        let x = x.min(self.width.saturating_sub(1));
        let y = y.min(self.height.saturating_sub(1));
        let w = w.clamp(1, self.width - x);
        let h = h.clamp(1, self.height - y);
        let mut data = Vec::with_capacity(w as usize * h as usize * 3);
        for row in y..y + h {
            let r = self.row(row);
            data.extend_from_slice(&r[x as usize * 3..(x + w) as usize * 3]);
        }
        RgbFrame {
            width: w,
            height: h,
            data,
        }
    }

    /// One row of packed RGB bytes. Panics when `y` is outside the frame.
    pub fn row(&self, y: u32) -> &[u8] {
        let s = self.stride();
        &self.data[y as usize * s..(y as usize + 1) * s]
    }

    /// The luma (grey) plane, BT.601, same size as the frame.
    pub fn luma(&self) -> LumaPlane {
        let data = self
            .data
            .chunks_exact(3)
            .map(|p| luma_of(p[0], p[1], p[2]))
            .collect();
        LumaPlane {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// The integer box-filter factor that brings `width` to at most `max_width` (at least 1).
    pub fn downscale_factor(&self, max_width: u32) -> u32 {
        self.width.div_ceil(max_width.max(1)).max(1)
    }

    /// A smaller copy, at most `max_width` pixels wide, by averaging `k x k` blocks where `k` is
    /// the smallest integer factor that fits ([`downscale_factor`]); the aspect ratio is kept.
    /// Columns and rows left over at the right and bottom edges (fewer than `k`) are dropped.
    /// A frame already narrow enough comes back as a copy. The output is never smaller than
    /// 1x1. One pass over the source.
    ///
    /// [`downscale_factor`]: RgbFrame::downscale_factor
    pub fn downscale(&self, max_width: u32) -> RgbFrame {
        let k = self.downscale_factor(max_width);
        self.downscale_by(k)
    }

    /// A copy reduced by the integer factor `k` (box filter over `k x k` blocks; see
    /// [`downscale`](RgbFrame::downscale)). `k = 0` is treated as 1. A frame thinner than `k`
    /// in one direction is averaged over its whole extent in that direction.
    pub fn downscale_by(&self, k: u32) -> RgbFrame {
        let k = k.max(1);
        let (kx, ky) = (k.min(self.width).max(1), k.min(self.height).max(1));
        if kx == 1 && ky == 1 {
            return self.clone();
        }
        let (ow, oh) = ((self.width / kx).max(1), (self.height / ky).max(1));
        let (kx_us, ky_us, ow_us) = (kx as usize, ky as usize, ow as usize);
        let stride = self.stride();
        let area = kx * ky;
        let mut sums = vec![0u32; ow_us * 3];
        let mut out = Vec::with_capacity(ow_us * oh as usize * 3);
        for oy in 0..oh as usize {
            sums.fill(0);
            for dy in 0..ky_us {
                let row = &self.data[(oy * ky_us + dy) * stride..][..ow_us * kx_us * 3];
                for (s, block) in sums.chunks_exact_mut(3).zip(row.chunks_exact(kx_us * 3)) {
                    for p in block.chunks_exact(3) {
                        s[0] += u32::from(p[0]);
                        s[1] += u32::from(p[1]);
                        s[2] += u32::from(p[2]);
                    }
                }
            }
            out.extend(sums.iter().map(|&s| ((s + area / 2) / area) as u8));
        }
        RgbFrame {
            width: ow,
            height: oh,
            data: out,
        }
    }

    /// Reads a binary PPM (`P6`, maxval 255), as written by `ffmpeg -vcodec ppm`, GStreamer
    /// `pnmenc` or [`to_ppm`](RgbFrame::to_ppm). Comments (`#` to end of line) in the header
    /// are skipped. Bytes after the picture (e.g. a second frame in a pipe) are ignored; see
    /// [`from_ppm_prefix`](RgbFrame::from_ppm_prefix) to read them too.
    pub fn from_ppm(bytes: &[u8]) -> Result<Self, FrameError> {
        Self::from_ppm_prefix(bytes).map(|(frame, _)| frame)
    }

    /// Reads the PPM at the start of `bytes` and returns it with the number of bytes it took,
    /// so a stream of concatenated pictures (`ffmpeg -f image2pipe -vcodec ppm -`) can be read
    /// one after the other.
    pub fn from_ppm_prefix(bytes: &[u8]) -> Result<(Self, usize), FrameError> {
        let bad = |why: &str| FrameError::Ppm(why.to_owned());
        let mut pos = 0usize;
        // Reads one whitespace-delimited header token, skipping comments.
        let mut token = || -> Result<&[u8], FrameError> {
            loop {
                match bytes.get(pos) {
                    Some(b'#') => {
                        while bytes.get(pos).is_some_and(|&c| c != b'\n') {
                            pos += 1;
                        }
                    }
                    Some(c) if c.is_ascii_whitespace() => pos += 1,
                    Some(_) => break,
                    None => return Err(bad("header ends early")),
                }
            }
            let start = pos;
            while bytes.get(pos).is_some_and(|c| !c.is_ascii_whitespace()) {
                pos += 1;
            }
            Ok(&bytes[start..pos])
        };
        if token()? != b"P6" {
            return Err(bad("magic is not P6"));
        }
        let mut number = |what: &str| -> Result<u32, FrameError> {
            let t = token()?;
            std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| FrameError::Ppm(format!("bad {what}")))
        };
        let width = number("width")?;
        let height = number("height")?;
        let maxval = number("maxval")?;
        if maxval != 255 {
            return Err(FrameError::Ppm(format!(
                "maxval {maxval} (only 8-bit, 255, is read)"
            )));
        }
        // Exactly one whitespace byte separates the header from the samples.
        if !bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
            return Err(bad("no whitespace after maxval"));
        }
        pos += 1;
        if width == 0 || height == 0 {
            return Err(FrameError::Empty { width, height });
        }
        let len = rgb_len(width, height).ok_or_else(|| bad("size overflows"))?;
        let data = bytes
            .get(pos..pos.saturating_add(len))
            .ok_or_else(|| {
                FrameError::Ppm(format!(
                    "{width}x{height} needs {len} sample bytes, {} present",
                    bytes.len() - pos
                ))
            })?
            .to_vec();
        Ok((
            Self {
                width,
                height,
                data,
            },
            pos + len,
        ))
    }

    /// The frame as a binary PPM (`P6`, maxval 255).
    pub fn to_ppm(&self) -> Vec<u8> {
        let header = format!("P6\n{} {}\n255\n", self.width, self.height);
        let mut out = Vec::with_capacity(header.len() + self.data.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

/// An 8-bit grey picture, row stride `width`, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LumaPlane {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` luma samples, row after row.
    pub data: Vec<u8>,
}

impl LumaPlane {
    /// The sample at `(x, y)`. Panics when outside the plane.
    pub fn get(&self, x: u32, y: u32) -> u8 {
        assert!(
            x < self.width && y < self.height,
            "sample outside the plane"
        );
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// Mean of all samples (0 for an empty plane).
    pub fn mean(&self) -> f64 {
        if self.data.is_empty() {
            return 0.0;
        }
        self.data.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / self.data.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> RgbFrame {
        RgbFrame::from_fn(w, h, |x, y| {
            [(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]
        })
    }

    #[test]
    fn new_validates_size() {
        assert!(RgbFrame::new(2, 2, vec![0; 12]).is_ok());
        assert!(matches!(
            RgbFrame::new(2, 2, vec![0; 11]),
            Err(FrameError::Size {
                expected: 12,
                actual: 11,
                ..
            })
        ));
        assert!(matches!(
            RgbFrame::new(0, 2, vec![]),
            Err(FrameError::Empty { .. })
        ));
    }

    #[test]
    fn luma_weights() {
        assert_eq!(luma_of(0, 0, 0), 0);
        assert_eq!(luma_of(255, 255, 255), 255);
        assert_eq!(luma_of(255, 0, 0), 77);
        assert_eq!(luma_of(0, 255, 0), 149);
        assert_eq!(luma_of(0, 0, 255), 29);
        let f = RgbFrame::filled(3, 2, [10, 200, 30]);
        let l = f.luma();
        assert_eq!((l.width, l.height, l.data.len()), (3, 2, 6));
        assert!(l.data.iter().all(|&v| v == luma_of(10, 200, 30)));
    }

    #[test]
    fn downscale_averages_blocks() {
        let f = RgbFrame::from_fn(6, 4, |x, _| {
            if x % 2 == 0 {
                [0, 100, 255]
            } else {
                [100, 0, 255]
            }
        });
        let d = f.downscale_by(2);
        assert_eq!((d.width, d.height), (3, 2));
        assert!(d.data.chunks(3).all(|p| p == [50, 50, 255]));
        // 768 wide to at most 320: factor 3, 256 wide; leftovers dropped.
        let big = ramp(768, 577);
        assert_eq!(big.downscale_factor(320), 3);
        let s = big.downscale(320);
        assert_eq!((s.width, s.height), (256, 192));
        // Narrow already: a copy.
        assert_eq!(ramp(100, 50).downscale(320), ramp(100, 50));
        // A frame thinner than the factor: averaged over its whole height.
        let t = ramp(700, 2).downscale(10);
        assert_eq!((t.width, t.height), (10, 1));
        let one = RgbFrame::filled(1, 1, [9, 9, 9]).downscale_by(4);
        assert_eq!(one, RgbFrame::filled(1, 1, [9, 9, 9]));
    }

    #[test]
    fn ppm_round_trip_and_comments() {
        let f = ramp(5, 3);
        let bytes = f.to_ppm();
        assert_eq!(RgbFrame::from_ppm(&bytes).unwrap(), f);
        let mut commented = b"P6 # made by hand\n5 # width\n3\n255\n".to_vec();
        commented.extend_from_slice(&f.data);
        commented.extend_from_slice(b"trailing");
        assert_eq!(RgbFrame::from_ppm(&commented).unwrap(), f);
        // Two pictures back to back, as a pipe delivers them.
        let g = RgbFrame::filled(2, 1, [1, 2, 3]);
        let mut stream = f.to_ppm();
        stream.extend_from_slice(&g.to_ppm());
        let (first, used) = RgbFrame::from_ppm_prefix(&stream).unwrap();
        assert_eq!((first, used), (f.clone(), bytes.len()));
        assert_eq!(RgbFrame::from_ppm(&stream[used..]).unwrap(), g);
    }

    #[test]
    fn ppm_rejects_garbage() {
        assert!(RgbFrame::from_ppm(b"P5\n1 1\n255\n\0").is_err());
        assert!(RgbFrame::from_ppm(b"P6\n2 2\n255\n\0\0\0").is_err());
        assert!(RgbFrame::from_ppm(b"P6\n1 1\n65535\n\0\0\0\0\0\0").is_err());
        assert!(RgbFrame::from_ppm(b"P6\nx 1\n255\n\0\0\0").is_err());
        assert!(RgbFrame::from_ppm(b"").is_err());
    }
}
