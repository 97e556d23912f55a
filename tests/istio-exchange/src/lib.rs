//! A test-only proxy-wasm module that plays Istio 1.18–1.23's metadata exchange filter, which in
//! istio-proxy runs first in the HTTP chain, in front of the mixerless filter (so it sees requests
//! before ours and responses after ours):
//!
//! - inbound request: reads and removes `x-envoy-peer-metadata` / `-id`, and stores the peer in
//!   filter state as `downstream_peer` (FlatNode bytes) and `downstream_peer_id`;
//! - inbound response: when the request carried the headers, adds its own;
//! - outbound request: sets (replaces) its own headers;
//! - outbound response: reads the upstream's headers into `upstream_peer` / `upstream_peer_id`
//!   and removes them.
//!
//! Its own headers carry the node metadata plus `ISTIO_VERSION: 1.23-sim`. The plugin
//! configuration may be `{"peer_as": "flatnode"}` (the default), `{"peer_as": "truncated"}` (half a
//! FlatNode: hostile filter state) or `{"peer_as": "none"}` (headers handled as above, no filter
//! state written). The end-to-end tests load it
//! (`tests/tests/filter/istio.rs`); it is never shipped.
//!
//! Built for `wasm32-wasip1` only (`make test-wasm`); on other targets this crate is empty.
#![cfg(target_arch = "wasm32")]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod config;
mod flat_node;
mod node;

use std::rc::Rc;

use mixerless_filter::peer::wire::Struct;
use mixerless_filter::peer::{base64, ID_HEADER, METADATA_HEADER};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::config::{Config, PeerAs};
use crate::node::Own;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// What every stream of this VM shares once configured.
struct Shared {
    config: Config,
    own: Own,
}

#[derive(Default)]
struct Root {
    shared: Option<Rc<Shared>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                log::error!("istio-exchange sim: reading the plugin configuration: {e:?}");
                return false;
            }
        };
        let config = match Config::parse(&bytes) {
            Ok(c) => c,
            Err(e) => {
                log::error!("istio-exchange sim: {e}");
                return false;
            }
        };
        let Some(own) = node::read() else {
            return false;
        };
        self.shared = Some(Rc::new(Shared { config, own }));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        Some(Box::new(Stream {
            shared,
            asked: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    shared: Rc<Shared>,
    /// Inbound: the request carried exchange headers, so the response answers with ours.
    asked: bool,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let map = MapType::HttpRequestHeaders;
        if inbound() {
            self.asked = self.receive(map, "downstream_peer");
        } else {
            set(map, METADATA_HEADER, Some(&self.shared.own.metadata));
            set(map, ID_HEADER, Some(&self.shared.own.id));
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let map = MapType::HttpResponseHeaders;
        if !inbound() {
            self.receive(map, "upstream_peer");
        } else if self.asked {
            // Added, not set: a second copy from a filter behind us would show.
            for (name, value) in [
                (METADATA_HEADER, &self.shared.own.metadata),
                (ID_HEADER, &self.shared.own.id),
            ] {
                if let Err(e) = hostcalls::add_map_value(map, name, value) {
                    log::warn!("istio-exchange sim: adding {name}: {e:?}");
                }
            }
        }
        Action::Continue
    }
}

impl Stream {
    /// Reads the peer's headers into filter state `{state}` / `{state}_id` and removes them;
    /// true when either header was there.
    fn receive(&self, map: MapType, state: &str) -> bool {
        let metadata = get(map, METADATA_HEADER);
        let id = get(map, ID_HEADER);
        if metadata.is_none() && id.is_none() {
            return false;
        }
        set(map, METADATA_HEADER, None);
        set(map, ID_HEADER, None);
        if self.shared.config.peer_as == PeerAs::None {
            return true;
        }
        let decoded = metadata.as_deref().map(|v| {
            base64::decode(v.trim())
                .ok_or_else(|| "not base64".to_owned())
                .and_then(|b| Struct::decode(&b).map_err(|e| e.to_string()))
        });
        match decoded {
            Some(Ok(peer)) => {
                let node = flat_node::encode(&peer);
                let keep = match self.shared.config.peer_as {
                    PeerAs::Truncated => node.len() / 2,
                    PeerAs::FlatNode | PeerAs::None => node.len(),
                };
                store(state, node.get(..keep).unwrap_or_default());
            }
            Some(Err(e)) => log::warn!("istio-exchange sim: ignoring {METADATA_HEADER}: {e}"),
            None => {}
        }
        if let Some(id) = id {
            store(&format!("{state}_id"), id.as_bytes());
        }
        true
    }
}

/// `xds.listener_direction` is 1 on an INBOUND listener.
fn inbound() -> bool {
    matches!(
        hostcalls::get_property(vec!["xds", "listener_direction"]),
        Ok(Some(b)) if b.first() == Some(&1)
    )
}

fn get(map: MapType, name: &str) -> Option<String> {
    hostcalls::get_map_value(map, name).unwrap_or_else(|e| {
        log::warn!("istio-exchange sim: reading {name}: {e:?}");
        None
    })
}

/// Replaces (`Some`) or removes (`None`) a header.
fn set(map: MapType, name: &str, value: Option<&str>) {
    if let Err(e) = hostcalls::set_map_value(map, name, value) {
        log::warn!("istio-exchange sim: setting {name}: {e:?}");
    }
}

fn store(name: &str, value: &[u8]) {
    if let Err(e) = hostcalls::set_property(vec![name], Some(value)) {
        log::warn!("istio-exchange sim: set_property {name}: {e:?}");
    }
}
