//! Shared media factories: one pipeline per kind of content, whatever number of cameras use it.
//!
//! A [`SimFactory`] is shared (`set_shared(true)`) and its key is a constant, so gst-rtsp-server
//! builds one media for every mount it serves. Video content is an in-memory [`Clip`] pushed
//! through `appsrc ! rtph264pay` (or `rtph265pay`: the clip's codec picks the payloader) with
//! timestamps that keep increasing across loops (no decoding, no encoding); audio content is a
//! PCMA tone.

use std::sync::{Arc, Mutex, OnceLock};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use gstreamer_rtsp_server::subclass::prelude::*;

use super::clip::Clip;

/// The role the simulator's credential carries; every factory grants it access.
pub const ROLE: &str = "sim-user";

/// What a factory serves.
#[derive(Debug, Clone)]
pub enum Content {
    /// A looped H.264 or H.265 clip.
    Video(Arc<Clip>),
    /// An 8 kHz PCMA tone and no video.
    Audio,
}

mod imp {
    use super::*;

    /// The factory's private state.
    #[derive(Default)]
    pub struct SimFactory {
        pub(super) content: OnceLock<Content>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SimFactory {
        const NAME: &'static str = "SharpeyesSimFactory";
        type Type = super::SimFactory;
        type ParentType = rtsp::RTSPMediaFactory;
    }

    impl ObjectImpl for SimFactory {}

    impl RTSPMediaFactoryImpl for SimFactory {
        fn gen_key(&self, _url: &gstreamer_rtsp::RTSPUrl) -> Option<glib::GString> {
            // One key for every URL: one media shared by every mount of this factory.
            Some("shared".into())
        }

        fn create_element(&self, _url: &gstreamer_rtsp::RTSPUrl) -> Option<gst::Element> {
            let content = self.content.get()?;
            match pipeline(content) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::error!(error = %e, "sim: building a media pipeline failed");
                    None
                }
            }
        }
    }
}

glib::wrapper! {
    /// A shared media factory serving one [`Content`] to any number of mounts.
    pub struct SimFactory(ObjectSubclass<imp::SimFactory>) @extends rtsp::RTSPMediaFactory;
}

impl SimFactory {
    /// A shared factory for `content`, open to the simulator's [`ROLE`].
    pub fn build(content: Content) -> rtsp::RTSPMediaFactory {
        let f: SimFactory = glib::Object::new();
        // Freshly made, so the cell is empty.
        let _ = f.imp().content.set(content);
        f.set_shared(true);
        let perms = gst::Structure::builder(ROLE)
            .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS.as_str(), true)
            .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT.as_str(), true)
            .build();
        f.add_role_from_structure(&perms);
        f.upcast()
    }
}

fn pipeline(content: &Content) -> Result<gst::Element, glib::Error> {
    match content {
        Content::Video(clip) => {
            let desc = format!(
                "appsrc name=src format=time stream-type=stream max-bytes=1048576 ! {}",
                clip.codec.payloader()
            );
            let bin = gst::parse::bin_from_description(&desc, false)?;
            let src = bin
                .by_name("src")
                .ok_or_else(|| glib::Error::new(gst::CoreError::Failed, "no appsrc"))?;
            src.set_property("caps", &clip.caps);
            feed(&src, Arc::clone(clip));
            Ok(bin.upcast())
        }
        Content::Audio => Ok(gst::parse::bin_from_description(
            "audiotestsrc wave=sine freq=440 volume=0.2 samplesperbuffer=160 ! \
             audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay0 pt=8",
            false,
        )?
        .upcast()),
    }
}

/// Pushes `clip`'s frames into `appsrc` on demand, looping forever.
fn feed(appsrc: &gst::Element, clip: Arc<Clip>) {
    let cursor = Mutex::new((0u64, 0usize));
    appsrc.connect("need-data", false, move |args| {
        let src = args[0].get::<gst::Element>().ok()?;
        let buf = {
            let mut c = cursor.lock().unwrap_or_else(|e| e.into_inner());
            if c.1 >= clip.frames.len() {
                *c = (c.0 + 1, 0);
            }
            let buf = clip.frame(c.0, c.1);
            c.1 += 1;
            buf
        }?;
        let _ = src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buf]);
        None
    });
}
