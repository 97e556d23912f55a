//! Dimension expressions: any text parses or is refused with a position inside it; a parsed
//! expression evaluates against any property value without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_filter::expr::{Expr, Peers};
use mixerless_filter::peer::Peer;
use mixerless_filter::fake::FakeHost;

fuzz_target!(|data: &[u8]| {
    // The property value comes after the last NUL byte, so the fuzzer steers both.
    let (text, value) = match data.iter().rposition(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"\x2a\0\0\0\0\0\0\0"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match Expr::parse(text) {
        Ok(expr) => {
            let mut host = FakeHost::default();
            for term in &expr.0 {
                if let mixerless_filter::expr::Term::Path(p) = term {
                    host.properties.insert(p.join("."), value.to_vec());
                }
            }
            let mut out = String::new();
            // Peer expressions read a peer whose every field and label is the value.
            let text = String::from_utf8_lossy(value).into_owned();
            let peer = Peer {
                workload: text.clone(),
                kind: text.clone(),
                labels: vec![(text.clone(), text)],
                ..Peer::default()
            };
            let peers = Peers {
                downstream: Some(&peer),
                upstream: None,
            };
            let _ = expr.eval(&host, peers, &mut out);
            let _ = expr.eval_int(&host);
            let _ = expr.eval(&FakeHost::default(), Peers::default(), &mut out);
        }
        Err(e) => assert!(
            e.at <= text.len(),
            "error at {} past the end ({})",
            e.at,
            text.len()
        ),
    }
});
