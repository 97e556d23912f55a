//! Istio's `FlatNode` (istio/proxy `extensions/common/node_info.fbs`), the peer Istio 1.18–1.23
//! keeps in filter state (`wasm.downstream_peer` / `wasm.upstream_peer`), decoded by hand.
//!
//! Written by hand because the filter reads five strings and one key/value vector of one table:
//! the `flatbuffers` crate's runtime plus generated accessors would cost more of the module's size
//! budget than this whole file, and every offset here is checked against the buffer (a truncated
//! or hostile object is an error, never a panic or an out-of-bounds read).

use super::{kind_of_owner, Peer, PeerError, MAX_FIELD_LEN, MAX_LABELS};

/// Vtable slots of `FlatNode`, in schema order.
mod slot {
    pub(super) const NAME: usize = 0;
    pub(super) const NAMESPACE: usize = 1;
    pub(super) const LABELS: usize = 2;
    pub(super) const OWNER: usize = 3;
    pub(super) const WORKLOAD_NAME: usize = 4;
    pub(super) const CLUSTER_ID: usize = 9;
    pub(super) const IDENTITY: usize = 11;
}

/// Longest FlatNode accepted (Istio's are well under 2 KB).
pub const MAX_FLAT_LEN: usize = 16 * 1024;

/// Why a FlatNode could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlatError {
    /// An offset or length points outside the buffer.
    #[error("FlatBuffers offset out of bounds at byte {0}")]
    Bounds(usize),
    /// A string that is not UTF-8.
    #[error("FlatBuffers string is not utf-8 at byte {0}")]
    Utf8(usize),
    /// A malformed vtable.
    #[error("FlatBuffers vtable malformed at byte {0}")]
    Vtable(usize),
    /// Larger than [`MAX_FLAT_LEN`].
    #[error("FlatNode is {0} bytes, more than {MAX_FLAT_LEN}")]
    TooLong(usize),
}

struct Buf<'a>(&'a [u8]);

impl<'a> Buf<'a> {
    fn u16(&self, at: usize) -> Result<u16, FlatError> {
        let b = self
            .0
            .get(at..at.saturating_add(2))
            .and_then(|b| b.try_into().ok());
        Ok(u16::from_le_bytes(b.ok_or(FlatError::Bounds(at))?))
    }

    fn u32(&self, at: usize) -> Result<u32, FlatError> {
        let b = self
            .0
            .get(at..at.saturating_add(4))
            .and_then(|b| b.try_into().ok());
        Ok(u32::from_le_bytes(b.ok_or(FlatError::Bounds(at))?))
    }

    /// Follows the unsigned offset stored at `at`.
    fn follow(&self, at: usize) -> Result<usize, FlatError> {
        let off = self.u32(at)? as usize;
        let to = at.checked_add(off).ok_or(FlatError::Bounds(at))?;
        if to >= self.0.len() {
            return Err(FlatError::Bounds(at));
        }
        Ok(to)
    }

    /// Where field `slot` of the table at `table` is stored, if present.
    fn field(&self, table: usize, slot: usize) -> Result<Option<usize>, FlatError> {
        let soffset = self.u32(table)? as i32;
        let vtable = (table as i64) - i64::from(soffset);
        let vtable = usize::try_from(vtable).map_err(|_| FlatError::Vtable(table))?;
        let vt_len = usize::from(self.u16(vtable)?);
        if vt_len < 4 || vt_len % 2 != 0 {
            return Err(FlatError::Vtable(vtable));
        }
        let entry = 4 + 2 * slot;
        if entry + 2 > vt_len {
            return Ok(None);
        }
        match usize::from(self.u16(vtable.saturating_add(entry))?) {
            0 => Ok(None),
            off => Ok(Some(table.saturating_add(off))),
        }
    }

    fn string(&self, table: usize, slot: usize) -> Result<&'a str, FlatError> {
        let Some(at) = self.field(table, slot)? else {
            return Ok("");
        };
        let s = self.follow(at)?;
        let len = self.u32(s)? as usize;
        let bytes = self
            .0
            .get(s.saturating_add(4)..s.saturating_add(4).saturating_add(len))
            .ok_or(FlatError::Bounds(s))?;
        std::str::from_utf8(bytes).map_err(|_| FlatError::Utf8(s))
    }

    /// The tables of a vector-of-tables field.
    fn tables(&self, table: usize, slot: usize) -> Result<Vec<usize>, FlatError> {
        let Some(at) = self.field(table, slot)? else {
            return Ok(Vec::new());
        };
        let v = self.follow(at)?;
        let n = self.u32(v)? as usize;
        if n > self.0.len() / 4 {
            return Err(FlatError::Bounds(v));
        }
        (0..n).map(|i| self.follow(v + 4 + 4 * i)).collect()
    }
}

/// Decodes a serialized `FlatNode` into the facts the labels use (the labels are those of the
/// workload, `app.kubernetes.io/*` preferred as Istio does for a peer).
pub fn decode(bytes: &[u8]) -> Result<Peer, PeerError> {
    if bytes.len() > MAX_FLAT_LEN {
        return Err(FlatError::TooLong(bytes.len()).into());
    }
    let b = Buf(bytes);
    let root = b.follow(0)?;
    let field = |slot: usize, name: &'static str| -> Result<String, PeerError> {
        let v = b.string(root, slot)?;
        if v.len() > MAX_FIELD_LEN {
            return Err(PeerError::Oversized(name));
        }
        Ok(v.to_owned())
    };
    let mut labels = Vec::new();
    for kv in b.tables(root, slot::LABELS)? {
        let (k, v) = (b.string(kv, 0)?, b.string(kv, 1)?);
        if labels.len() < MAX_LABELS && k.len() <= MAX_FIELD_LEN && v.len() <= MAX_FIELD_LEN {
            labels.push((k.to_owned(), v.to_owned()));
        }
    }
    let label = |k: &str| {
        labels
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let owner = b.string(root, slot::OWNER)?;
    let mut peer = Peer {
        name: field(slot::NAME, "name")?,
        workload: field(slot::WORKLOAD_NAME, "workload_name")?,
        namespace: field(slot::NAMESPACE, "namespace")?,
        cluster: field(slot::CLUSTER_ID, "cluster_id")?,
        identity: field(slot::IDENTITY, "identity")?,
        service_account: String::new(),
        app: label("app.kubernetes.io/name")
            .or_else(|| label("app"))
            .unwrap_or_default(),
        version: label("app.kubernetes.io/version")
            .or_else(|| label("version"))
            .unwrap_or_default(),
        canonical_service: label(super::CANONICAL_NAME).unwrap_or_default(),
        canonical_revision: label(super::CANONICAL_REVISION).unwrap_or_default(),
        kind: kind_of_owner(owner).to_owned(),
        labels: Vec::new(),
    };
    peer.labels = labels;
    peer.sanitize();
    Ok(peer)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A FlatNode written field by field the way `flatc`'s builder lays it out (vtable before
    /// the table, strings after), independent of the decoder: strings in `fields` by slot,
    /// `labels` as a KeyVal vector in slot 2.
    pub(crate) fn flat_node(fields: &[(usize, &str)], labels: &[(&str, &str)]) -> Vec<u8> {
        // Layout: [root u32][vtable][table][kv vtables+tables][vector][strings]
        let mut out = vec![0u8; 4];
        let slots = 12usize;
        let vt_at = out.len();
        let vt_len = 4 + 2 * slots;
        out.resize(vt_at + vt_len, 0);
        let table = out.len();
        out.extend_from_slice(&((table - vt_at) as i32).to_le_bytes());
        let mut field_at = Vec::new();
        for (slot, _) in fields {
            field_at.push((*slot, out.len()));
            out.extend_from_slice(&[0; 4]);
        }
        let labels_at = if labels.is_empty() {
            None
        } else {
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            Some(at)
        };
        let table_len = out.len() - table;
        out[vt_at..vt_at + 2].copy_from_slice(&(vt_len as u16).to_le_bytes());
        out[vt_at + 2..vt_at + 4].copy_from_slice(&(table_len as u16).to_le_bytes());
        let set_slot = |out: &mut Vec<u8>, slot: usize, at: usize| {
            let e = vt_at + 4 + 2 * slot;
            out[e..e + 2].copy_from_slice(&((at - table) as u16).to_le_bytes());
        };
        for (slot, at) in &field_at {
            set_slot(&mut out, *slot, *at);
        }
        if let Some(at) = labels_at {
            set_slot(&mut out, 2, at);
        }
        out[0..4].copy_from_slice(&(table as u32).to_le_bytes());
        let put_string = |out: &mut Vec<u8>, from: usize, s: &str| {
            let at = out.len();
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            out[from..from + 4].copy_from_slice(&((at - from) as u32).to_le_bytes());
        };
        // The vector first (offsets point forward), then the KeyVal tables, each with its own
        // 2-slot vtable.
        let vec_at = out.len();
        if let Some(at) = labels_at {
            out.extend_from_slice(&(labels.len() as u32).to_le_bytes());
            out.extend_from_slice(&vec![0; 4 * labels.len()]);
            out[at..at + 4].copy_from_slice(&((vec_at - at) as u32).to_le_bytes());
        }
        let mut kv_tables = Vec::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            let vt = out.len();
            out.extend_from_slice(&8u16.to_le_bytes());
            out.extend_from_slice(&12u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
            out.extend_from_slice(&8u16.to_le_bytes());
            let t = out.len();
            out.extend_from_slice(&((t - vt) as i32).to_le_bytes());
            out.extend_from_slice(&[0; 8]);
            let slot_at = vec_at + 4 + 4 * i;
            out[slot_at..slot_at + 4].copy_from_slice(&((t - slot_at) as u32).to_le_bytes());
            kv_tables.push((t, *k, *v));
        }
        for (t, k, v) in &kv_tables {
            put_string(&mut out, t + 4, k);
            put_string(&mut out, t + 8, v);
        }
        for ((_, s), (_, at)) in fields.iter().zip(field_at.iter()) {
            put_string(&mut out, *at, s);
        }
        out
    }

    pub(crate) fn ratings() -> Vec<u8> {
        flat_node(
            &[
                (slot::NAME, "ratings-v1-7dbf9c"),
                (slot::NAMESPACE, "default"),
                (slot::WORKLOAD_NAME, "ratings-v1"),
                (
                    slot::OWNER,
                    "kubernetes://apis/apps/v1/namespaces/default/deployments/ratings-v1",
                ),
                (slot::CLUSTER_ID, "server-cluster"),
                (6, "1.23.0"),
            ],
            &[
                ("app", "ratings"),
                ("service.istio.io/canonical-name", "ratings"),
                ("service.istio.io/canonical-revision", "version-1"),
                ("version", "v1"),
            ],
        )
    }

    /// Demonstrates decoding every field the labels use, label precedence and the owner's kind.
    #[test]
    fn decodes_flat_node() {
        let p = decode(&ratings()).unwrap();
        assert_eq!(p.name, "ratings-v1-7dbf9c");
        assert_eq!(p.workload, "ratings-v1");
        assert_eq!(p.namespace, "default");
        assert_eq!(p.cluster, "server-cluster");
        assert_eq!((p.app.as_str(), p.version.as_str()), ("ratings", "v1"));
        assert_eq!(p.canonical_service, "ratings");
        assert_eq!(p.canonical_revision, "version-1");
        assert_eq!(p.kind, "deployment");
        assert_eq!(p.label("version"), Some("v1"));
        let recommended = flat_node(
            &[(slot::WORKLOAD_NAME, "w")],
            &[("app", "a"), ("app.kubernetes.io/name", "k")],
        );
        assert_eq!(decode(&recommended).unwrap().app, "k");
        let empty = flat_node(&[], &[]);
        assert_eq!(decode(&empty).unwrap(), Peer::default());
    }

    /// Demonstrates that every truncation and a corrupted offset are errors, never panics.
    #[test]
    fn rejects_malformed() {
        let good = ratings();
        for len in 0..good.len() {
            // Some prefixes still hold every field read (trailing padding); none may panic.
            let _ = decode(&good[..len]);
        }
        assert!(decode(&good[..good.len() / 2]).is_err());
        let mut bad = good.clone();
        bad[3] = 0x7f;
        assert!(matches!(
            decode(&bad),
            Err(PeerError::Flat(FlatError::Bounds(0)))
        ));
        let mut bad_vtable = good;
        let table = u32::from_le_bytes([bad_vtable[0], bad_vtable[1], bad_vtable[2], bad_vtable[3]])
            as usize;
        bad_vtable[table..table + 4].copy_from_slice(&i32::MIN.to_le_bytes());
        assert!(decode(&bad_vtable).is_err());
        assert!(matches!(
            decode(&vec![0; MAX_FLAT_LEN + 1]),
            Err(PeerError::Flat(FlatError::TooLong(_)))
        ));
    }
}
