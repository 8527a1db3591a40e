//! Basic authentication for every mount, and the `auth` fault (401 whatever the credentials).

use std::sync::{Arc, OnceLock};

use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use gstreamer_rtsp_server::subclass::prelude::*;

use super::faults::Fault;
use super::routing::Routing;

mod imp {
    use super::*;

    /// The auth's private state.
    #[derive(Default)]
    pub struct SimAuth {
        pub(super) routing: OnceLock<Arc<Routing>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SimAuth {
        const NAME: &'static str = "SharpeyesSimAuth";
        type Type = super::SimAuth;
        type ParentType = rtsp::RTSPAuth;
    }

    impl ObjectImpl for SimAuth {}

    impl RTSPAuthImpl for SimAuth {
        fn authenticate(&self, ctx: &rtsp::RTSPContext) -> bool {
            let faulted = self.routing.get().is_some_and(|r| {
                ctx.uri().and_then(|u| r.camera_of(u)).is_some_and(|i| r.faults.get(i) == Fault::Auth)
            });
            // Failing here makes the server answer 401 with a WWW-Authenticate challenge.
            !faulted && self.parent_authenticate(ctx)
        }
    }
}

glib::wrapper! {
    /// Basic auth with one credential, failing every request to a camera with the `auth` fault.
    pub struct SimAuth(ObjectSubclass<imp::SimAuth>) @extends rtsp::RTSPAuth;
}

impl SimAuth {
    /// Accepts `username`/`password` (Basic) on every camera not in the `auth` fault.
    pub fn new(routing: Arc<Routing>, username: &str, password: &str) -> rtsp::RTSPAuth {
        let auth: SimAuth = glib::Object::new();
        let _ = auth.imp().routing.set(routing);
        let token = rtsp::RTSPToken::builder()
            .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE.as_str(), super::media::ROLE)
            .build();
        auth.add_basic(&rtsp::RTSPAuth::make_basic(username, password), &token);
        auth.set_supported_methods(gstreamer_rtsp::RTSPAuthMethod::Basic);
        auth.upcast()
    }
}
