//! `google.protobuf.Struct` on the wire, by hand.
//!
//! Written by hand because the filter needs five message types (Struct, Value, ListValue and
//! Envoy's `Metadata`), and the protobuf crates that fit (`prost` with its derive and runtime) cost
//! tens of KB in a module whose size budget is 150 KB; the wire format is small and stable.

use std::fmt::Write as _;

/// A decoding failure, naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended inside a field.
    #[error("truncated protobuf at byte {0}")]
    Truncated(usize),
    /// A varint longer than 10 bytes.
    #[error("malformed varint at byte {0}")]
    Varint(usize),
    /// A wire type the messages here never use (groups) or that does not exist.
    #[error("unsupported wire type {1} at byte {0}")]
    WireType(usize, u8),
    /// A string that is not UTF-8.
    #[error("string is not utf-8 at byte {0}")]
    Utf8(usize),
    /// Structs nested deeper than [`MAX_DEPTH`].
    #[error("structs nested deeper than {MAX_DEPTH}")]
    Depth,
}

/// How deep Struct/List values may nest (peer metadata is two levels deep).
pub const MAX_DEPTH: usize = 8;

/// A `google.protobuf.Value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Number(f64),
    String(String),
    Bool(bool),
    Struct(Struct),
    List(Vec<Value>),
}

/// A `google.protobuf.Struct`: fields in wire order (encoding sorts them by key).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Struct(pub Vec<(String, Value)>);

impl Struct {
    /// The value of field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string value of field `key`, if present and a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The struct value of field `key`, if present and a struct.
    pub fn child(&self, key: &str) -> Option<&Struct> {
        match self.get(key) {
            Some(Value::Struct(s)) => Some(s),
            _ => None,
        }
    }

    /// Decodes a serialized Struct.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_struct(bytes, 0, 0)
    }

    /// Serializes deterministically (fields sorted by key, as protobuf's deterministic mode does
    /// for maps).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_struct(self, &mut out);
        out
    }
}

/// One field read from a message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// Reads the fields of one message in order.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the outermost input, for error positions.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(WireError::Truncated(self.base + self.pos))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Varint(self.base + self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(WireError::Truncated(self.base + self.pos))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(WireError::Truncated(self.base + self.pos))?;
        self.pos = end;
        Ok(s)
    }

    /// The next field number and value, or `None` at the end.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u64, Field<'a>, usize)>, WireError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.base + self.pos;
        let key = self.varint()?;
        let field = match (key & 7) as u8 {
            0 => Field::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Field::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated(at))?;
                let offset = self.base + self.pos;
                return Ok(Some((key >> 3, Field::Bytes(self.take(n)?), offset)));
            }
            5 => {
                self.take(4)?;
                Field::Fixed32
            }
            t => return Err(WireError::WireType(at, t)),
        };
        Ok(Some((key >> 3, field, self.base + self.pos)))
    }
}

fn utf8(b: &[u8], at: usize) -> Result<String, WireError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| WireError::Utf8(at))
}

fn decode_struct(bytes: &[u8], base: usize, depth: usize) -> Result<Struct, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::Depth);
    }
    let mut fields = Vec::new();
    for_each_entry(bytes, base, |key, value, at| {
        fields.push((key, decode_value(value, at, depth + 1)?));
        Ok(())
    })?;
    Ok(Struct(fields))
}

/// Calls `f(key, value bytes, offset)` for each entry of a `map<string, Message>` at field 1 (the
/// layout of both `Struct.fields` and Envoy's `Metadata.filter_metadata`).
pub(crate) fn for_each_entry(
    bytes: &[u8],
    base: usize,
    mut f: impl FnMut(String, &[u8], usize) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut r = Reader::new(bytes, base);
    while let Some((no, field, at)) = r.next_field()? {
        let (1, Field::Bytes(entry)) = (no, field) else {
            continue;
        };
        let mut key = String::new();
        let mut value: (&[u8], usize) = (&[], at);
        let mut e = Reader::new(entry, at);
        while let Some((no, field, at)) = e.next_field()? {
            match (no, field) {
                (1, Field::Bytes(b)) => key = utf8(b, at)?,
                (2, Field::Bytes(b)) => value = (b, at),
                _ => {}
            }
        }
        f(key, value.0, value.1)?;
    }
    Ok(())
}

fn decode_value(bytes: &[u8], base: usize, depth: usize) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::Depth);
    }
    let mut value = Value::Null;
    let mut r = Reader::new(bytes, base);
    while let Some((no, field, at)) = r.next_field()? {
        value = match (no, field) {
            (1, Field::Varint(_)) => Value::Null,
            (2, Field::Fixed64(bits)) => Value::Number(f64::from_bits(bits)),
            (3, Field::Bytes(b)) => Value::String(utf8(b, at)?),
            (4, Field::Varint(v)) => Value::Bool(v != 0),
            (5, Field::Bytes(b)) => Value::Struct(decode_struct(b, at, depth)?),
            (6, Field::Bytes(b)) => {
                let mut items = Vec::new();
                let mut l = Reader::new(b, at);
                while let Some((no, field, at)) = l.next_field()? {
                    if let (1, Field::Bytes(item)) = (no, field) {
                        items.push(decode_value(item, at, depth + 1)?);
                    }
                }
                Value::List(items)
            }
            _ => continue,
        };
    }
    Ok(value)
}

/// Insertion sort by the first element: the lists here have a handful of entries, and the
/// standard library's stable sort costs kilobytes of module size.
pub(crate) fn sort_by_key<K: Ord, V, T: std::borrow::Borrow<(K, V)>>(items: &mut [T]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 {
            let (Some(a), Some(b)) = (items.get(j - 1), items.get(j)) else {
                break;
            };
            if a.borrow().0 <= b.borrow().0 {
                break;
            }
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn encode_struct(s: &Struct, out: &mut Vec<u8>) {
    let mut fields: Vec<&(String, Value)> = s.0.iter().collect();
    sort_by_key(&mut fields);
    for (key, value) in fields {
        let mut entry = Vec::new();
        put_bytes(&mut entry, 1, key.as_bytes());
        let mut v = Vec::new();
        encode_value(value, &mut v);
        put_bytes(&mut entry, 2, &v);
        put_bytes(out, 1, &entry);
    }
}

fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => {
            put_varint(out, 1 << 3);
            put_varint(out, 0);
        }
        Value::Number(n) => {
            put_varint(out, (2 << 3) | 1);
            out.extend_from_slice(&n.to_bits().to_le_bytes());
        }
        Value::String(s) => put_bytes(out, 3, s.as_bytes()),
        Value::Bool(b) => {
            put_varint(out, 4 << 3);
            put_varint(out, u64::from(*b));
        }
        Value::Struct(s) => {
            let mut b = Vec::new();
            encode_struct(s, &mut b);
            put_bytes(out, 5, &b);
        }
        Value::List(items) => {
            let mut l = Vec::new();
            for item in items {
                let mut b = Vec::new();
                encode_value(item, &mut b);
                put_bytes(&mut l, 1, &b);
            }
            put_bytes(out, 6, &l);
        }
    }
}

/// Hex dump for log lines and test failures.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, Value)]) -> Struct {
        Struct(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    /// Demonstrates that every Value kind survives encode then decode, with fields sorted.
    #[test]
    fn round_trip_all_kinds() {
        let labels = s(&[
            ("app", Value::String("ratings".into())),
            ("version", Value::String("v1".into())),
        ]);
        let original = s(&[
            ("WORKLOAD_NAME", Value::String("ratings-v1".into())),
            ("LABELS", Value::Struct(labels)),
            ("N", Value::Number(1.5)),
            ("B", Value::Bool(true)),
            ("Z", Value::Null),
            (
                "L",
                Value::List(vec![Value::String("a".into()), Value::Number(2.0)]),
            ),
        ]);
        let decoded = Struct::decode(&original.encode()).unwrap();
        let keys: Vec<&str> = decoded.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["B", "L", "LABELS", "N", "WORKLOAD_NAME", "Z"]);
        for (k, v) in &original.0 {
            assert_eq!(decoded.get(k), Some(v), "{k}");
        }
    }

    /// Demonstrates the exact bytes of a one-field Struct (checked against protobuf's encoding:
    /// field 1 entry, key field 1, value field 2 holding string_value field 3).
    #[test]
    fn encodes_known_bytes() {
        let one = s(&[("NAMESPACE", Value::String("default".into()))]);
        assert_eq!(
            hex(&one.encode()),
            "0a160a094e414d4553504143451209 1a0764656661756c74".replace(' ', "")
        );
    }

    /// Demonstrates that broken inputs give errors, never panics.
    #[test]
    fn rejects_malformed() {
        let good = s(&[("NAMESPACE", Value::String("default".into()))]).encode();
        for cut in 1..good.len() {
            assert!(Struct::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(Struct::decode(&[0x0b]), Err(WireError::WireType(0, 3)));
        assert_eq!(
            Struct::decode(&[0x80; 12]).unwrap_err(),
            WireError::Varint(10)
        );
        let bad_utf8 = [0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        assert_eq!(Struct::decode(&bad_utf8), Err(WireError::Utf8(4)));
        // Deep nesting is bounded.
        let mut v = Value::Null;
        for _ in 0..20 {
            v = Value::Struct(s(&[("x", v)]));
        }
        assert_eq!(
            Struct::decode(&s(&[("x", v)]).encode()),
            Err(WireError::Depth)
        );
    }

    /// Demonstrates that unknown fields (fixed32, varints) are skipped.
    #[test]
    fn skips_unknown_fields() {
        let mut bytes = vec![0x15, 1, 2, 3, 4, 0x18, 0x05];
        bytes.extend(s(&[("A", Value::String("b".into()))]).encode());
        assert_eq!(Struct::decode(&bytes).unwrap().str("A"), Some("b"));
    }
}
