//! The proxy-wasm "pairs" encoding Envoy uses to hand a CEL map to wasm: Istio 1.25 and later keep
//! the peer in filter state as a `google.protobuf.Struct`, which `get_property` returns this way.
//!
//! Layout (proxy-wasm ABI): `u32 n`, then `n` × (`u32 key_len`, `u32 value_len`), then each key and
//! value followed by a NUL byte; all little-endian. A nested map (a Struct field holding a Struct,
//! such as `labels`) is itself pairs-encoded in its value.

use super::{Peer, PeerError, MAX_FIELD_LEN, MAX_LABELS};

/// Why a pairs map could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairsError {
    /// The sizes do not add up to the buffer.
    #[error("pairs map truncated at byte {0}")]
    Truncated(usize),
    /// A key or string value that is not UTF-8.
    #[error("pairs map entry {0} is not utf-8")]
    Utf8(usize),
}

/// Splits a pairs-encoded map into its entries.
pub fn decode(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, PairsError> {
    let u32_at = |at: usize| -> Result<usize, PairsError> {
        let b = bytes
            .get(at..at.saturating_add(4))
            .and_then(|b| b.try_into().ok());
        Ok(u32::from_le_bytes(b.ok_or(PairsError::Truncated(at))?) as usize)
    };
    let n = u32_at(0)?;
    // Each entry needs 8 bytes of sizes and 2 NULs.
    if n > bytes.len() / 10 {
        return Err(PairsError::Truncated(0));
    }
    let mut data = 4 + 8 * n;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (klen, vlen) = (u32_at(4 + 8 * i)?, u32_at(8 + 8 * i)?);
        let key = bytes
            .get(data..data.saturating_add(klen))
            .ok_or(PairsError::Truncated(data))?;
        data = data.saturating_add(klen + 1);
        let value = bytes
            .get(data..data.saturating_add(vlen))
            .ok_or(PairsError::Truncated(data))?;
        data = data.saturating_add(vlen + 1);
        if data > bytes.len() {
            return Err(PairsError::Truncated(bytes.len()));
        }
        out.push((
            std::str::from_utf8(key).map_err(|_| PairsError::Utf8(i))?,
            value,
        ));
    }
    Ok(out)
}

/// Encodes entries as pairs (the peer objects of tests, and nested values).
pub fn encode(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (k, v) in entries {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in entries {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Reads Istio's peer Struct (fields `workload`, `namespace`, `cluster`, `service`, `revision`,
/// `app`, `version`, `name`, `type`, `identity`, `labels`) from its pairs encoding.
pub fn peer(bytes: &[u8]) -> Result<Peer, PeerError> {
    let entries = decode(bytes)?;
    let mut p = Peer::default();
    for (key, value) in &entries {
        if *key == "labels" {
            // A labels value that is not a map is ignored, like any other unknown shape.
            if let Ok(labels) = decode(value) {
                p.labels = labels
                    .iter()
                    .filter_map(|(k, v)| {
                        let v = std::str::from_utf8(v).ok()?;
                        (k.len() <= MAX_FIELD_LEN && v.len() <= MAX_FIELD_LEN)
                            .then(|| ((*k).to_owned(), v.to_owned()))
                    })
                    .take(MAX_LABELS)
                    .collect();
            }
            continue;
        }
        let Some(slot) = p.field_mut(key) else {
            continue;
        };
        let text = std::str::from_utf8(value).map_err(|_| PeerError::NotText((*key).to_owned()))?;
        if text.len() > MAX_FIELD_LEN {
            return Err(PeerError::Oversized("pairs field"));
        }
        text.clone_into(slot);
    }
    p.sanitize();
    Ok(p)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The bytes Envoy hands wasm for Istio 1.25's peer Struct of workload `ratings-v1`.
    pub(crate) fn ratings() -> Vec<u8> {
        let labels = encode(&[("app", b"ratings"), ("team", b"reviews")]);
        encode(&[
            ("app", b"ratings"),
            ("cluster", b"server-cluster"),
            ("labels", &labels),
            ("name", b"ratings-v1-7dbf9c"),
            ("namespace", b"default"),
            ("revision", b"version-1"),
            ("service", b"ratings"),
            ("type", b"deployment"),
            ("version", b"v1"),
            ("workload", b"ratings-v1"),
        ])
    }

    /// Demonstrates reading the peer Struct, nested labels included, written byte by byte per the
    /// ABI rather than through `encode`.
    #[test]
    fn reads_peer_struct() {
        let p = peer(&ratings()).unwrap();
        assert_eq!(
            (
                p.workload.as_str(),
                p.namespace.as_str(),
                p.canonical_service.as_str(),
                p.canonical_revision.as_str(),
                p.kind.as_str()
            ),
            (
                "ratings-v1",
                "default",
                "ratings",
                "version-1",
                "deployment"
            )
        );
        assert_eq!(p.label("team"), Some("reviews"));
        // One entry `ab` → `c`, laid out by hand.
        let by_hand = [1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, b'a', b'b', 0, b'c', 0];
        assert_eq!(decode(&by_hand).unwrap(), vec![("ab", &b"c"[..])]);
        assert_eq!(encode(&[("ab", b"c")]), by_hand);
    }

    /// Demonstrates that truncated maps, absurd counts and wrong value types are errors, never
    /// panics.
    #[test]
    fn rejects_malformed() {
        let good = ratings();
        for len in 0..good.len() {
            assert!(peer(&good[..len]).is_err(), "{len}");
        }
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0x7f]),
            Err(PairsError::Truncated(0))
        );
        let not_text = encode(&[("workload", &[0xff, 0xfe])]);
        assert!(peer(&not_text).is_err());
        let labels_not_map = encode(&[("workload", b"w"), ("labels", b"x")]);
        assert_eq!(peer(&labels_not_map).unwrap().workload, "w");
    }
}
