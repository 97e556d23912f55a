//! The peer Istio's own exchange filter found, read from filter state.
//!
//! Inside istio-proxy, Istio's exchange runs before this filter, removes the exchange headers from
//! inbound requests and outbound responses, and keeps the peer in filter state, in a shape that
//! changed over the releases:
//!
//! | Istio | where | what `get_property` returns |
//! |---|---|---|
//! | 1.18–1.23 | `wasm.downstream_peer` / `wasm.upstream_peer` | the whole object at `["downstream_peer"]`: FlatNode bytes ([`super::flat`]) |
//! | 1.24 | `downstream_peer` / `upstream_peer` | an object with field access: `["filter_state", "downstream_peer", "workload"]`, ... |
//! | 1.25+ | the same keys, a `google.protobuf.Struct` | a pairs map at `["filter_state", "downstream_peer"]` ([`super::pairs`]) |
//!
//! The shape found first on a VM is tried first from then on; a proxy never changes release.

use std::rc::Rc;

use super::{flat, pairs, Peer, PeerCache, PeerError, MAX_FIELD_LEN};
use crate::host::Host;

/// Malformed filter-state peers logged per VM before the rest are only counted.
const MAX_BAD_LOGS: u32 = 20;

/// Which peer of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Who sent the request (inbound).
    Downstream,
    /// Who answered it (outbound).
    Upstream,
}

impl Side {
    /// The filter-state key (without the `wasm.` prefix Envoy adds for wasm-set objects).
    pub fn key(self) -> &'static str {
        match self {
            Side::Downstream => "downstream_peer",
            Side::Upstream => "upstream_peer",
        }
    }
}

/// The filter-state shapes, by Istio release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Istio 1.18–1.23: FlatNode bytes.
    FlatNode,
    /// Istio 1.24: an object with field access.
    Object,
    /// Istio 1.25+: a Struct, handed over as a pairs map.
    Struct,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::FlatNode, Shape::Struct, Shape::Object];
}

/// What filter state held.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// No peer: Istio's exchange is not in front, or found nobody.
    Nothing,
    /// The peer.
    Peer(Rc<Peer>),
    /// An object of the wrong type or shape: Istio's exchange is in front, the peer is unknown.
    Unusable,
}

/// Reads filter-state peers, remembering the shape this proxy uses and the peers decoded.
#[derive(Debug)]
pub struct StatePeers {
    shape: Option<Shape>,
    cache: PeerCache,
    bad: u32,
}

impl StatePeers {
    /// Keeps at most `capacity` decoded peers.
    pub fn new(capacity: usize) -> Self {
        Self {
            shape: None,
            cache: PeerCache::new(capacity),
            bad: 0,
        }
    }

    /// The shape found on this VM so far.
    pub fn shape(&self) -> Option<Shape> {
        self.shape
    }

    /// The `side` peer of the current stream.
    pub fn read(&mut self, host: &dyn Host, side: Side) -> Found {
        if let Some(shape) = self.shape {
            return self.read_shape(host, side, shape).0;
        }
        for shape in Shape::ALL {
            let (found, shape) = self.read_shape(host, side, shape);
            if found != Found::Nothing {
                if matches!(found, Found::Peer(_)) {
                    log::info!("Istio's exchange keeps peers in filter state as {shape:?}");
                    self.shape = Some(shape);
                }
                return found;
            }
        }
        Found::Nothing
    }

    /// What `shape` finds, and the shape it turned out to be.
    fn read_shape(&mut self, host: &dyn Host, side: Side, shape: Shape) -> (Found, Shape) {
        let decoded = match shape {
            Shape::FlatNode => match host.property(&[side.key()]) {
                Ok(Some(b)) if !b.is_empty() => self.cache.get_or_decode_with(&b, flat::decode),
                _ => return (Found::Nothing, shape),
            },
            Shape::Struct => match host.property(&["filter_state", side.key()]) {
                Ok(Some(b)) if !b.is_empty() => {
                    // A 1.24 object serializes to something else: try its fields.
                    if self.shape.is_none() && pairs::decode(&b).is_err() {
                        return self.read_shape(host, side, Shape::Object);
                    }
                    self.cache.get_or_decode_with(&b, pairs::peer)
                }
                _ => return (Found::Nothing, shape),
            },
            Shape::Object => match object(host, side) {
                Some(peer) => peer.map(Rc::new),
                None => return (Found::Nothing, shape),
            },
        };
        let found = match decoded {
            Ok(peer) => Found::Peer(peer),
            Err(e) => {
                self.bad = self.bad.saturating_add(1);
                if self.bad <= MAX_BAD_LOGS {
                    log::warn!(
                        "ignoring filter-state {} ({shape:?}): {e}; peer labels are unknown",
                        side.key()
                    );
                    if self.bad == MAX_BAD_LOGS {
                        log::warn!("further malformed filter-state peers are not logged");
                    }
                }
                Found::Unusable
            }
        };
        (found, shape)
    }
}

/// Istio 1.24's object, field by field; `None` when it has no `workload` field at all.
fn object(host: &dyn Host, side: Side) -> Option<Result<Peer, PeerError>> {
    let get = |field: &str| {
        host.property(&["filter_state", side.key(), field])
            .ok()
            .flatten()
    };
    let workload = get("workload")?;
    let mut p = Peer::default();
    let mut set = |name: &'static str, b: Vec<u8>| -> Result<(), PeerError> {
        if b.len() > MAX_FIELD_LEN {
            return Err(PeerError::Oversized(name));
        }
        let text = String::from_utf8(b).map_err(|_| PeerError::NotText(name.to_owned()))?;
        if let Some(slot) = p.field_mut(name) {
            *slot = text;
        }
        Ok(())
    };
    let result = set("workload", workload).and_then(|()| {
        Peer::FIELDS
            .iter()
            .filter(|name| **name != "workload")
            .try_for_each(|name| get(name).map_or(Ok(()), |b| set(name, b)))
    });
    Some(result.map(|()| {
        p.sanitize();
        p
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeHost;

    fn workload(found: &Found) -> Option<String> {
        match found {
            Found::Peer(p) => Some(p.workload.clone()),
            _ => None,
        }
    }

    /// Demonstrates each release's shape read through the `Host` trait with the bytes Envoy
    /// returns, and that the shape found first is kept.
    #[test]
    fn every_release() {
        let mut flat_host = FakeHost::default();
        flat_host
            .properties
            .insert("upstream_peer".into(), flat::tests::ratings());
        let mut peers = StatePeers::new(8);
        assert_eq!(
            workload(&peers.read(&flat_host, Side::Upstream)).as_deref(),
            Some("ratings-v1")
        );
        assert_eq!(peers.shape(), Some(Shape::FlatNode));
        assert_eq!(peers.read(&flat_host, Side::Downstream), Found::Nothing);

        let mut struct_host = FakeHost::default();
        struct_host.properties.insert(
            "filter_state.downstream_peer".into(),
            pairs::tests::ratings(),
        );
        let mut peers = StatePeers::new(8);
        let found = peers.read(&struct_host, Side::Downstream);
        assert_eq!(workload(&found).as_deref(), Some("ratings-v1"));
        assert_eq!(peers.shape(), Some(Shape::Struct));

        let mut object_host = FakeHost::default();
        for (f, v) in [
            ("workload", "ratings-v1"),
            ("namespace", "default"),
            ("service", "ratings"),
            ("revision", "version-1"),
            ("cluster", "server-cluster"),
            ("type", "deployment"),
        ] {
            object_host.set_str(&format!("filter_state.downstream_peer.{f}"), v);
        }
        // 1.24's object serializes to text that is no pairs map.
        object_host.set_str("filter_state.downstream_peer", "ratings-v1");
        let mut peers = StatePeers::new(8);
        let Found::Peer(p) = peers.read(&object_host, Side::Downstream) else {
            panic!("no peer from the 1.24 object");
        };
        assert_eq!(
            (
                p.namespace.as_str(),
                p.canonical_revision.as_str(),
                p.cluster.as_str()
            ),
            ("default", "version-1", "server-cluster")
        );
        assert_eq!(peers.shape(), Some(Shape::Object));
    }

    /// Demonstrates that an object of the wrong type or shape makes the peer unknown (and says
    /// Istio is in front), for every release's shape.
    #[test]
    fn unusable_objects() {
        let mut truncated = FakeHost::default();
        let mut bytes = flat::tests::ratings();
        bytes.truncate(40);
        truncated.properties.insert("downstream_peer".into(), bytes);
        assert_eq!(
            StatePeers::new(8).read(&truncated, Side::Downstream),
            Found::Unusable
        );
        let mut wrong_types = FakeHost::default();
        wrong_types.properties.insert(
            "filter_state.downstream_peer".into(),
            pairs::encode(&[("workload", &[0xff, 0x00, 0xfe])]),
        );
        let mut peers = StatePeers::new(8);
        assert_eq!(peers.read(&wrong_types, Side::Downstream), Found::Unusable);
        // Not a FlatNode, not a map, no fields: nothing this filter can read.
        let mut garbage = FakeHost::default();
        garbage.set_str("filter_state.downstream_peer", "x");
        assert_eq!(
            StatePeers::new(8).read(&garbage, Side::Downstream),
            Found::Nothing
        );
    }
}
