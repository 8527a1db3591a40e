//! Basic authentication for every mount, and the `auth` fault (401 whatever the credentials).

use std::sync::{Arc, OnceLock};

use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use gstreamer_rtsp_server::subclass::prelude::*;

use super::faults::Fault;
use super::routing::Routing;

/// The challenge sent with every 401.
const REALM: &str = "Basic realm=\"sharpeyes-sim\"";

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
                ctx.uri()
                    .and_then(|u| r.camera_of(u))
                    .is_some_and(|i| r.faults.get(i) == Fault::Auth)
            });
            // Failing here makes the server answer 401 with a WWW-Authenticate challenge.
            !faulted && self.parent_authenticate(ctx)
        }

        fn check(&self, ctx: &rtsp::RTSPContext, check: &glib::GString) -> bool {
            if check.as_str() != rtsp::RTSP_AUTH_CHECK_URL.as_str() {
                return self.parent_check(ctx, check);
            }
            // The stock URL check lets every request through, so a missing mount would answer
            // 404 to anyone; like a camera, ask for credentials first, on every request.
            if ctx.token().is_some() || (self.authenticate(ctx) && ctx.token().is_some()) {
                return true;
            }
            challenge(ctx);
            false
        }
    }

    /// Answers the request with 401 and a Basic challenge.
    fn challenge(ctx: &rtsp::RTSPContext) {
        if let (Some(response), Some(client)) = (ctx.response(), ctx.client()) {
            response.init_response(gstreamer_rtsp::RTSPStatusCode::Unauthorized, ctx.request());
            response.add_header(gstreamer_rtsp::RTSPHeaderField::WwwAuthenticate, REALM);
            let _ = client.send_message(response, ctx.session());
        }
    }
}

glib::wrapper! {
    /// Basic auth with one credential, failing every request to a camera with the `auth` fault.
    pub struct SimAuth(ObjectSubclass<imp::SimAuth>) @extends rtsp::RTSPAuth;
}

impl SimAuth {
    /// Accepts `username`/`password` (Basic) on every camera not in the `auth` fault.
    pub fn build(routing: Arc<Routing>, username: &str, password: &str) -> rtsp::RTSPAuth {
        let auth: SimAuth = glib::Object::new();
        let _ = auth.imp().routing.set(routing);
        let token = rtsp::RTSPToken::builder()
            .field(
                rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE.as_str(),
                super::media::ROLE,
            )
            .build();
        auth.add_basic(&rtsp::RTSPAuth::make_basic(username, password), &token);
        auth.set_supported_methods(gstreamer_rtsp::RTSPAuthMethod::Basic);
        auth.upcast()
    }
}
