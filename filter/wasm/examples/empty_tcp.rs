//! The floor of any proxy-wasm network filter, for `scripts/bench-tcp.sh`: a root and a stream
//! (TCP) context whose callbacks do nothing, built with the same SDK and profile as the filter.
#![cfg(target_arch = "wasm32")]

use proxy_wasm::traits::{Context, RootContext, StreamContext};
use proxy_wasm::types::ContextType;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(Connection))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::StreamContext)
    }
}

struct Connection;

impl Context for Connection {}

impl StreamContext for Connection {}
