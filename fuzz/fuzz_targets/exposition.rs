//! Exposition parsing (text 0.0.4 and OpenMetrics): any body is parsed or rejected line by
//! line, and strict and lenient parsing agree on bodies without errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixerless_engine::exposition::{parse, Format, ParseOptions};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Auto, Format::Text004, Format::OpenMetrics] {
        let lenient = ParseOptions {
            strict: false,
            format,
            max_line_bytes: 4096,
        };
        let strict = ParseOptions {
            strict: true,
            ..lenient.clone()
        };
        let Ok(l) = parse(data, &lenient) else {
            continue;
        };
        if let Ok(s) = parse(data, &strict) {
            assert!(
                l.errors.is_empty(),
                "strict accepted what lenient reported: {:?}",
                l.errors
            );
            assert_eq!(s.samples.len(), l.samples.len());
        }
        for sample in &l.samples {
            assert!(
                sample.labels.get("__name__").is_some_and(|n| !n.is_empty()),
                "{sample:?}"
            );
        }
    }
});
