//! This sidecar's own exchange headers, from Envoy's node (`xds.node.id`, `xds.node.metadata`),
//! marked `ISTIO_VERSION: 1.23-sim` so tests can tell the simulator's headers from the filter's.

use mixerless_filter::peer::wire::{Struct, Value};
use mixerless_filter::peer::{base64, pairs};
use proxy_wasm::hostcalls;

/// The `ISTIO_VERSION` the simulator sends (the filter ignores the key).
pub(crate) const SIM_VERSION: &str = "1.23-sim";

/// Node metadata keys whose values are maps (serialized by Envoy as nested proxy-wasm pairs).
const MAPS: [&str; 2] = ["LABELS", "PLATFORM_METADATA"];

/// What this sidecar sends: `x-envoy-peer-metadata` and `x-envoy-peer-metadata-id`.
pub(crate) struct Own {
    pub(crate) metadata: String,
    pub(crate) id: String,
}

/// Reads the node; `None` (after a log line) when a property cannot be read.
pub(crate) fn read() -> Option<Own> {
    let id = match hostcalls::get_property(vec!["xds", "node", "id"]) {
        Ok(v) => String::from_utf8_lossy(&v.unwrap_or_default()).into_owned(),
        Err(e) => {
            log::error!("reading xds.node.id: {e:?}");
            return None;
        }
    };
    // Envoy serializes a map-valued property (here the metadata Struct) as proxy-wasm pairs.
    let bytes = match hostcalls::get_property(vec!["xds", "node", "metadata"]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => {
            log::error!("reading xds.node.metadata: {e:?}");
            return None;
        }
    };
    let entries = match pairs::decode(&bytes) {
        Ok(entries) => entries,
        Err(e) => {
            log::error!("xds.node.metadata is not a proxy-wasm pairs map: {e}");
            return None;
        }
    };
    let mut fields = Vec::new();
    for (k, v) in entries {
        let key = k.to_owned();
        if key == "ISTIO_VERSION" {
            continue;
        }
        let value = if MAPS.contains(&key.as_str()) {
            let Ok(inner) = pairs::decode(v) else {
                log::error!("xds.node.metadata.{key} is not a map");
                return None;
            };
            let entries = inner
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(text(v))))
                .collect();
            Value::Struct(Struct(entries))
        } else {
            Value::String(text(v))
        };
        fields.push((key, value));
    }
    fields.push(("ISTIO_VERSION".into(), Value::String(SIM_VERSION.into())));
    Some(Own {
        metadata: base64::encode(&Struct(fields).encode()),
        id,
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
