//! Decoded peers per worker VM, bounded like Istio's (500 entries, a quarter evicted when full).

use hashbrown::HashMap;
use std::rc::Rc;

use super::{Peer, PeerError};

/// Decoded peers keyed by the raw bytes they were decoded from (a header value, a filter-state
/// object), so a changed peer is never served stale.
#[derive(Debug)]
pub struct PeerCache {
    peers: HashMap<Vec<u8>, Rc<Peer>>,
    /// The last hit: most streams of a worker come from the same few peers, and comparing
    /// bytes is cheaper than hashing them.
    last: Option<(Vec<u8>, Rc<Peer>)>,
    capacity: usize,
}

impl PeerCache {
    /// An empty cache holding at most `capacity` peers.
    pub fn new(capacity: usize) -> Self {
        Self {
            peers: HashMap::new(),
            last: None,
            capacity: capacity.max(1),
        }
    }

    /// The peer for an `x-envoy-peer-metadata` value, decoding it on a miss. Failures are not
    /// cached (they are rare and each gets its own log line upstream).
    pub fn get_or_decode(&mut self, header: &str) -> Result<Rc<Peer>, PeerError> {
        self.get_or_decode_with(header.as_bytes(), |b| {
            Peer::from_header(std::str::from_utf8(b).unwrap_or_default())
        })
    }

    /// The peer decoded from `key` by `decode`, decoding it on a miss.
    pub fn get_or_decode_with(
        &mut self,
        key: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<Peer, PeerError>,
    ) -> Result<Rc<Peer>, PeerError> {
        if let Some((h, p)) = &self.last {
            if h.as_slice() == key {
                return Ok(Rc::clone(p));
            }
        }
        if let Some(p) = self.peers.get(key) {
            let p = Rc::clone(p);
            self.last = Some((key.to_vec(), Rc::clone(&p)));
            return Ok(p);
        }
        let peer = Rc::new(decode(key)?);
        if self.peers.len() >= self.capacity {
            let evict: Vec<Vec<u8>> = self
                .peers
                .keys()
                .take(self.capacity.div_ceil(4))
                .cloned()
                .collect();
            for k in evict {
                self.peers.remove(&k);
            }
        }
        self.peers.insert(key.to_vec(), Rc::clone(&peer));
        self.last = Some((key.to_vec(), Rc::clone(&peer)));
        Ok(peer)
    }

    /// How many peers are cached.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{base64, wire::Value};
    use super::*;

    fn header(workload: &str) -> String {
        let s = super::super::wire::Struct(vec![(
            "WORKLOAD_NAME".into(),
            Value::String(workload.into()),
        )]);
        base64::encode(&s.encode())
    }

    /// Demonstrates that the cache hits on the same header, stays bounded, and does not keep
    /// failures.
    #[test]
    fn bounded_and_hits() {
        let mut c = PeerCache::new(8);
        let a = c.get_or_decode(&header("a")).unwrap();
        let again = c.get_or_decode(&header("a")).unwrap();
        assert!(Rc::ptr_eq(&a, &again));
        for i in 0..100 {
            c.get_or_decode(&header(&format!("w{i}"))).unwrap();
            assert!(c.len() <= 8);
        }
        assert!(c.get_or_decode("%%%").is_err());
        assert!(c.len() <= 8 && !c.is_empty());
    }
}
