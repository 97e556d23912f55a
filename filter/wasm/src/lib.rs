//! The proxy-wasm module Envoy loads: implements [`mixerless_filter::Host`] over
//! `proxy_wasm::hostcalls` and forwards the SDK's callbacks to [`mixerless_filter::Plugin`].
//! This is the only code that calls the host; everything else is tested natively.
//!
//! Built for `wasm32-wasip1` only (`make wasm`); on other targets this crate is empty.
#![cfg(target_arch = "wasm32")]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod host;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mixerless_filter::{Plugin, Stream as StreamState};
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, PeerType};

use crate::host::WasmHost;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// The VM-wide context: owns the configured plugin shared with every stream of this worker.
#[derive(Default)]
struct Root {
    plugin: Rc<RefCell<Option<Plugin>>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config =
            match proxy_wasm::hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            {
                Ok(bytes) => bytes.unwrap_or_default(),
                Err(status) => {
                    log::error!("reading the plugin configuration failed: {status:?}");
                    return false;
                }
            };
        match Plugin::configure(&WasmHost, &config) {
            Ok(plugin) => {
                // The reporting tick of open TCP connections (network filter only).
                if plugin.tick_ms() > 0 {
                    self.set_tick_period(Duration::from_millis(plugin.tick_ms()));
                }
                *self.plugin.borrow_mut() = Some(plugin);
                true
            }
            Err(e) => {
                // Returning false makes Envoy refuse the filter; the log line says why.
                log::error!("{e}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            plugin: Rc::clone(&self.plugin),
            state: StreamState::default(),
        }))
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(Connection {
            plugin: Rc::clone(&self.plugin),
            id: context_id,
        }))
    }

    /// The configuration's `type` (the SDK asks once per new context, after `on_configure`).
    fn get_type(&self) -> Option<ContextType> {
        let network =
            matches!(self.plugin.try_borrow(), Ok(p) if p.as_ref().is_some_and(Plugin::is_network));
        Some(if network {
            ContextType::StreamContext
        } else {
            ContextType::HttpContext
        })
    }

    fn on_tick(&mut self) {
        if let Ok(mut plugin) = self.plugin.try_borrow_mut() {
            if let Some(plugin) = plugin.as_mut() {
                plugin.on_tick(&WasmHost);
            }
        }
    }
}

/// One HTTP stream.
struct Stream {
    plugin: Rc<RefCell<Option<Plugin>>>,
    state: StreamState,
}

impl Stream {
    /// Runs `f` on the configured plugin; never blocks the stream, whatever happens.
    fn with(&mut self, f: impl FnOnce(&mut Plugin, &mut StreamState)) -> Action {
        if let Ok(mut plugin) = self.plugin.try_borrow_mut() {
            if let Some(plugin) = plugin.as_mut() {
                f(plugin, &mut self.state);
            }
        }
        Action::Continue
    }
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.with(|p, s| p.on_request_headers(&WasmHost, s))
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.with(|p, s| p.on_response_headers(&WasmHost, s))
    }

    fn on_log(&mut self) {
        self.with(|p, s| p.on_log(&WasmHost, s));
    }
}

/// One TCP connection (the plugin as a network filter).
struct Connection {
    plugin: Rc<RefCell<Option<Plugin>>>,
    id: u32,
}

impl Connection {
    /// Runs `f` on the configured plugin; never holds up the connection, whatever happens.
    fn with(&mut self, f: impl FnOnce(&mut Plugin, u32)) -> Action {
        if let Ok(mut plugin) = self.plugin.try_borrow_mut() {
            if let Some(plugin) = plugin.as_mut() {
                f(plugin, self.id);
            }
        }
        Action::Continue
    }
}

impl Context for Connection {
    /// A connection Envoy finishes without a close event is closed here (once: the plugin
    /// forgets a connection when it reports it closed).
    fn on_done(&mut self) -> bool {
        self.with(|p, id| p.on_connection_closed(&WasmHost, id));
        true
    }
}

impl StreamContext for Connection {
    fn on_new_connection(&mut self) -> Action {
        self.with(|p, id| p.on_new_connection(&WasmHost, id))
    }

    fn on_downstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.with(|p, id| p.on_downstream_data(&WasmHost, id, data_size))
    }

    fn on_upstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.with(|p, id| p.on_upstream_data(&WasmHost, id, data_size))
    }

    /// The downstream connection closed (Istio reports at its close events too).
    fn on_downstream_close(&mut self, _peer_type: PeerType) {
        self.with(|p, id| p.on_connection_closed(&WasmHost, id));
    }
}
