//! Istio's `FlatNode` (istio/proxy `extensions/common/node_info.fbs`) from a peer's metadata
//! Struct, the way istio/proxy's `extractNodeFlatBufferFromStruct` builds it: the keys it maps,
//! labels and platform metadata as vectors of `KeyVal` sorted by key, `APP_CONTAINERS` split at
//! commas. Written with `flatbuffers::FlatBufferBuilder` and the table API by hand (no flatc), so
//! it shares no code with the filter's decoder.

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use mixerless_filter::peer::wire::{Struct, Value};

/// vtable slot of field `index` in declaration order (flatbuffers: 4 + 2 × index).
const fn slot(index: u16) -> u16 {
    4 + 2 * index
}

// table KeyVal { key:string (key); value:string; }
const KEYVAL_KEY: u16 = slot(0);
const KEYVAL_VALUE: u16 = slot(1);

// table FlatNode { name; namespace; labels; owner; workload_name; platform_metadata;
//                  istio_version; mesh_id; app_containers; cluster_id; instance_ips; identity; }
const NAME: u16 = slot(0);
const NAMESPACE: u16 = slot(1);
const LABELS: u16 = slot(2);
const OWNER: u16 = slot(3);
const WORKLOAD_NAME: u16 = slot(4);
const PLATFORM_METADATA: u16 = slot(5);
const ISTIO_VERSION: u16 = slot(6);
const MESH_ID: u16 = slot(7);
const APP_CONTAINERS: u16 = slot(8);
const CLUSTER_ID: u16 = slot(9);

/// The top-level string fields Istio copies, with their slots.
const STRINGS: [(&str, u16); 7] = [
    ("NAME", NAME),
    ("NAMESPACE", NAMESPACE),
    ("OWNER", OWNER),
    ("WORKLOAD_NAME", WORKLOAD_NAME),
    ("ISTIO_VERSION", ISTIO_VERSION),
    ("MESH_ID", MESH_ID),
    ("CLUSTER_ID", CLUSTER_ID),
];

/// The FlatNode bytes for `peer`. Fields of other types than Istio reads are left out, as
/// `string_value()` of a non-string would give Istio an empty string.
pub(crate) fn encode(peer: &Struct) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::with_capacity(512);
    let mut strings = Vec::new();
    for (key, at) in STRINGS {
        if let Some(v) = peer.str(key) {
            strings.push((at, fbb.create_string(v)));
        }
    }
    let labels = peer.child("LABELS").map(|m| key_vals(&mut fbb, m));
    let platform = peer
        .child("PLATFORM_METADATA")
        .map(|m| key_vals(&mut fbb, m));
    let containers = peer.str("APP_CONTAINERS").map(|list| {
        let names: Vec<_> = list.split(',').map(|c| fbb.create_string(c)).collect();
        fbb.create_vector(&names)
    });

    let start = fbb.start_table();
    for (at, s) in strings {
        fbb.push_slot_always::<WIPOffset<_>>(at, s);
    }
    if let Some(v) = labels {
        fbb.push_slot_always::<WIPOffset<_>>(LABELS, v);
    }
    if let Some(v) = platform {
        fbb.push_slot_always::<WIPOffset<_>>(PLATFORM_METADATA, v);
    }
    if let Some(v) = containers {
        fbb.push_slot_always::<WIPOffset<_>>(APP_CONTAINERS, v);
    }
    let node = fbb.end_table(start);
    fbb.finish(node, None);
    fbb.finished_data().to_vec()
}

/// A `[KeyVal]` of the string entries of `map`, sorted by key as a `(key)` vector must be
/// (flatbuffers' `CreateVectorOfSortedTables` compares the key strings bytewise).
fn key_vals<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    map: &Struct,
) -> WIPOffset<
    flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<flatbuffers::TableFinishedWIPOffset>>,
> {
    let mut entries: Vec<(&str, &str)> = map
        .0
        .iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.as_str(), s.as_str())),
            _ => None,
        })
        .collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let tables: Vec<_> = entries
        .into_iter()
        .map(|(k, v)| {
            let key = fbb.create_string(k);
            let value = fbb.create_string(v);
            let start = fbb.start_table();
            fbb.push_slot_always::<WIPOffset<_>>(KEYVAL_KEY, key);
            fbb.push_slot_always::<WIPOffset<_>>(KEYVAL_VALUE, value);
            fbb.end_table(start)
        })
        .collect();
    fbb.create_vector(&tables)
}
