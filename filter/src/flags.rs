//! Envoy's response flags: the `response.flags` bit mask turned into the short codes Istio
//! reports (`UF,URX`), in Envoy's order.

/// Short codes by bit position, as Envoy's `CoreResponseFlag` enum orders them (the legacy
/// bit mask that `response.flags` returns sets bit `1 << flag`).
const CODES: [&str; 30] = [
    "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC",
    "URX", "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR",
    "UDO",
];

/// Writes the comma-joined short codes of `mask` into `out`, or `-` when no flag is set. Bits
/// this Envoy version does not name are skipped.
pub fn write_short_codes(mask: u64, out: &mut String) {
    let start = out.len();
    for (bit, code) in CODES.iter().enumerate() {
        if mask & (1u64 << bit) != 0 {
            if out.len() > start {
                out.push(',');
            }
            out.push_str(code);
        }
    }
    if out.len() == start {
        out.push('-');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates the codes of single and combined flags, and `-` for none.
    #[test]
    fn short_codes() {
        let cases: [(u64, &str); 6] = [
            (0, "-"),
            (1 << 5, "UF"),
            (1 << 8, "NR"),
            ((1 << 5) | (1 << 15), "UF,URX"),
            (1 << 12, "UAEX"),
            (1 << 40, "-"),
        ];
        for (mask, want) in cases {
            let mut s = String::new();
            write_short_codes(mask, &mut s);
            assert_eq!(s, want, "mask {mask:#x}");
        }
    }
}
