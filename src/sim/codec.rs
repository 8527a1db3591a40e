//! The video codecs a simulated camera serves, and the GStreamer elements each one needs.
//!
//! Everything codec-specific in the simulator is here: the parser and caps a clip is demuxed to,
//! the encoder of the still clips (`freeze`, `black`) and the RTP payloader. The rest of the
//! simulator (looping, sharing, faults) is the same for every codec.

use std::fmt;

use serde::Serialize;

/// A video encoding served by the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// H.264 (AVC): the default.
    #[default]
    H264,
    /// H.265 (HEVC).
    H265,
}

impl Codec {
    /// Every codec.
    pub const ALL: [Codec; 2] = [Codec::H264, Codec::H265];

    /// The name used by the control API (and by the daemon's API): `h264`, `h265`.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
        }
    }

    /// The parser that turns a demuxed or encoded stream into [`Codec::caps`].
    pub fn parser(self) -> &'static str {
        match self {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        }
    }

    /// Caps of a clip's frames: whole access units, parameter sets in `codec_data`.
    pub fn caps(self) -> &'static str {
        match self {
            Codec::H264 => "video/x-h264,stream-format=avc,alignment=au",
            Codec::H265 => "video/x-h265,stream-format=hvc1,alignment=au",
        }
    }

    /// An encoder named `enc` for the still clips: a keyframe every `gop` frames, no B-frames,
    /// and no lookahead, so each picture fed comes out before the next is needed (the clip
    /// builder stops the pipeline without draining the encoder).
    pub fn still_encoder(self, gop: u32, bitrate_kbps: u32) -> String {
        match self {
            Codec::H264 => format!(
                "openh264enc name=enc gop-size={gop} bitrate={}",
                bitrate_kbps * 1000
            ),
            // Closed GOPs: every keyframe an IDR, decodable on its own as a sample.
            Codec::H265 => format!(
                "x265enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} \
                 bitrate={bitrate_kbps} option-string=\"open-gop=0:log-level=error\""
            ),
        }
    }

    /// The still encoder's element name, for error messages.
    pub fn still_encoder_name(self) -> &'static str {
        match self {
            Codec::H264 => "openh264enc",
            Codec::H265 => "x265enc",
        }
    }

    /// The RTP payloader, as the media's `pay0`; parameter sets sent with every keyframe.
    pub fn payloader(self) -> &'static str {
        match self {
            Codec::H264 => "rtph264pay name=pay0 pt=96 config-interval=-1",
            Codec::H265 => "rtph265pay name=pay0 pt=96 config-interval=-1",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_elements() {
        assert_eq!(Codec::default(), Codec::H264);
        assert_eq!(
            serde_json::to_string(&Codec::H265).unwrap(),
            "\"h265\"",
            "the daemon's spelling"
        );
        for c in Codec::ALL {
            assert!(c.payloader().starts_with("rtph26") && c.payloader().contains("pay0"));
            assert!(c.still_encoder(20, 100).contains("name=enc"));
            assert!(c.caps().contains("alignment=au"));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert!(
            Codec::H264
                .still_encoder(20, 400)
                .contains("bitrate=400000")
        );
        assert!(Codec::H265.still_encoder(20, 400).contains("bitrate=400 "));
    }
}
