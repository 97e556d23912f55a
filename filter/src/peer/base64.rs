//! Standard base64 (RFC 4648 §4), padded when encoding, padding optional when decoding, as
//! Istio's exchange headers use it. Forty lines by hand instead of the `base64` crate, whose
//! engine/config machinery costs more module size than the whole codec here.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes with `=` padding.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let six = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(ALPHABET.get(six).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes; `None` for a character outside the alphabet or an impossible length.
pub fn decode(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim_end_matches('=');
    if input.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= sextet(*c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend(bytes.iter().skip(1).take(chunk.len() - 1));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates the RFC 4648 test vectors, with and without padding.
    #[test]
    fn rfc_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()));
            assert_eq!(
                decode(coded.trim_end_matches('=')).as_deref(),
                Some(plain.as_bytes())
            );
        }
        assert_eq!(decode("/+8="), Some(vec![0xff, 0xef]));
    }

    /// Demonstrates that text outside the alphabet or of impossible length is refused.
    #[test]
    fn rejects_garbage() {
        for bad in ["Zm9v!", "Z", "Zm9vY", "Zg===", "Zm 9v", "-_8="] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
