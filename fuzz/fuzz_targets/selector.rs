//! `labelSelector` parsing: any string either parses or is rejected with an error naming it,
//! and a parsed selector only holds keys and values that apimachinery accepts.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use mixerless_hpa::selector::{parse, Requirement};

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse(input) {
        Ok(sel) => {
            let mut labels = BTreeMap::new();
            for r in &sel.0 {
                let (key, values): (&String, &[String]) = match r {
                    Requirement::In(k, vs) | Requirement::NotIn(k, vs) => (k, vs),
                    Requirement::Exists(k) | Requirement::DoesNotExist(k) => (k, &[]),
                };
                assert!(
                    !key.is_empty() && !key.contains([',', '(', ')', '!', '=', ' ']),
                    "{key:?}"
                );
                for v in values {
                    assert!(valid_value(v), "value {v:?} accepted from {input:?}");
                }
                if let Some(v) = values.first() {
                    labels.insert(key.clone(), v.clone());
                }
            }
            // Evaluating against any label set must not panic.
            let _ = sel.matches(&labels);
            let _ = sel.matches(&BTreeMap::new());
        }
        Err(e) => assert_eq!(e.input, input),
    }
});
