//! Parser tests: exact values for each grammar corner and each kind of bad input.

use super::*;

fn ok(body: &str) -> ParsedScrape {
    parse(
        body.as_bytes(),
        &ParseOptions {
            strict: true,
            ..ParseOptions::default()
        },
    )
    .unwrap()
}

/// Demonstrates escapes, `{}`, NaN/±Inf, timestamps, trailing commas and histogram `le` normalisation.
#[test]
fn grammar() {
    let p = ok("# HELP a help \\n text\n# TYPE a counter\na{x=\"q\\\"\\\\\\n\",y=\"\",} 1.5 1000\nb{} +Inf\nc NaN\nd -inf\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"0.10000000000000000555111512312578\"} 1\nh_bucket{le=\"+Inf\"} 4\n");
    let s = &p.samples;
    assert_eq!(s.len(), 7);
    assert_eq!(s[0].labels.get("x"), Some("q\"\\\n"));
    assert_eq!(s[0].labels.get("y"), None);
    assert_eq!((s[0].value, s[0].timestamp_ms), (1.5, Some(1000)));
    assert_eq!(s[1].value, f64::INFINITY);
    assert_eq!(s[2].value.to_bits(), 0x7ff8_0000_0000_0001);
    assert_eq!(s[3].value, f64::NEG_INFINITY);
    assert_eq!(s[4].labels.get("le"), Some("1.0"));
    assert_eq!(s[5].labels.get("le"), Some("0.1"));
    assert_eq!(s[6].labels.get("le"), Some("+Inf"));
    assert_eq!(p.types.get("a"), Some(&MetricType::Counter));
    assert_eq!(normalize_float_label(3_600_000.0), "3.6e+06");
    assert_eq!(normalize_float_label(0.00001), "1e-05");
}

/// Demonstrates OpenMetrics: seconds timestamps, exemplars ignored, `# EOF` required in strict mode.
#[test]
fn openmetrics() {
    let p = ok("# TYPE r counter\nr_total 5 1.5 # {trace_id=\"a\"} 1 1.4\n# EOF\n");
    assert_eq!(p.format, Format::OpenMetrics);
    assert_eq!(p.samples[0].timestamp_ms, Some(1500));
    let e = parse(
        b"# TYPE r counter\nr_total 5 1\n",
        &ParseOptions {
            strict: true,
            format: Format::OpenMetrics,
            ..Default::default()
        },
    );
    assert_eq!(e.unwrap_err(), Error::MissingEof { line: 3 });
}

/// Demonstrates that each bad line is reported with line:col and the rest of the body is kept.
#[test]
fn bad_lines_keep_the_rest() {
    let mut body = b"ok1 1\nbad{x=\"1\" 2\nbad2 0x1p3\n".to_vec();
    body.extend_from_slice(b"bad3{a=\"\xff\"} 1\nok1 2\n");
    body.extend_from_slice(b"h_bucket{le=\"NaN\"} 1\nok2 3\n");
    let p = parse(&body, &ParseOptions::default()).unwrap();
    let msgs: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        vec![
            "line 5: duplicate series ok1{}",
            "line 2:11: expected label name, found '2'",
            "line 3:6: invalid value \"0x1p3\"",
            "line 4:9: invalid utf-8",
        ]
    );
    assert_eq!(
        p.samples.iter().map(|s| s.value).collect::<Vec<_>>(),
        vec![1.0, 1.0, 3.0]
    );
    // Strict mode rejects the body at the first bad line.
    let e = parse(
        &body,
        &ParseOptions {
            strict: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "line 2:11: expected label name, found '2'");
    // Prometheus 3 takes a NaN bound (and formats it "NaN"): so do we.
    let h = parse(
        b"# TYPE h histogram\nh_bucket{le=\"nan\"} 1\n",
        &ParseOptions {
            strict: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(h.samples[0].labels.get("le"), Some("NaN"));
}

/// Demonstrates that a 100 MB line is refused with its length, without being parsed.
#[test]
fn huge_line() {
    let mut body = vec![b'a'; 100 << 20];
    body.extend_from_slice(b" 1\nok 2\n");
    let p = parse(&body, &ParseOptions::default()).unwrap();
    assert_eq!(
        p.errors[0].to_string(),
        format!(
            "line 1: {} bytes is longer than the limit of 1048576",
            (100 << 20) + 2
        )
    );
    assert_eq!(p.samples.len(), 1);
}

/// Demonstrates that arbitrary bytes and mutated bodies never panic the parser or the store.
#[test]
fn garbage_never_panics() {
    let valid = b"# TYPE h histogram\nh_bucket{le=\"1\",a=\"x\\\"y\"} 1 1000\nh_bucket{le=\"+Inf\"} 2\n# HELP c x\nc{\"utf8.name\",b=\"\xc3\xa9\"} NaN\n# EOF\n";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut store = crate::store::Store::new(crate::store::StoreConfig::default());
    for round in 0..3000 {
        let mut body = valid.to_vec();
        for _ in 0..(next() % 8) {
            let i = (next() as usize) % body.len().max(1);
            match next() % 3 {
                0 => body[i] = next() as u8,
                1 => {
                    body.remove(i);
                }
                _ => body.insert(i, b"{}\"\\=, #\n\xff"[(next() % 10) as usize]),
            }
        }
        for strict in [false, true] {
            let opts = ParseOptions {
                strict,
                ..ParseOptions::default()
            };
            let _ = parse(&body, &opts);
        }
        let _ = store.ingest(&[("job".into(), "j".into())], round * 1000, &body);
    }
}

/// Demonstrates that an empty quoted metric or label name is refused (found by fuzzing: a
/// sample without a name reached the store).
#[test]
fn empty_quoted_names_are_refused() {
    let strict = ParseOptions {
        strict: true,
        ..Default::default()
    };
    for (body, msg) in [
        (&b"{\"\",a=\"b\"} 1\n"[..], "empty metric name"),
        (&b"{\"\"} 1\n"[..], "empty metric name"),
        (&b"m{\"\"=\"b\"} 1\n"[..], "empty label name"),
    ] {
        let e = parse(body, &strict).unwrap_err().to_string();
        assert!(e.contains(msg), "{e}");
    }
    let p = parse(b"{\"a.b\",x=\"1\"} 2\n", &strict).unwrap();
    assert_eq!(p.samples[0].labels.get("__name__"), Some("a.b"));
}
