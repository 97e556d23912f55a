//! Valid and invalid bodies for each rule of the two formats, as Prometheus 3's `textparse`
//! decides them (its `promparse_test.go`/`openmetricsparse_test.go` cases and the lexers'
//! rules), with the samples a valid body yields and the line:column a bad one is refused at.

use super::*;

use Format::{OpenMetrics as Om, Text004 as Text};

/// What a body must give: its samples (`labels value [timestamp]`, labels sorted), or an error
/// whose text starts with the given `line:col` and contains the given words.
enum Want {
    Samples(&'static [&'static str]),
    Error(&'static str, &'static str),
}
use Want::{Error as Err_, Samples};

fn run(format: Format, body: &[u8]) -> Result<Vec<String>> {
    let opts = ParseOptions {
        strict: true,
        format,
        ..ParseOptions::default()
    };
    let p = parse(body, &opts)?;
    Ok(p.samples
        .iter()
        .map(|s| match s.timestamp_ms {
            Some(t) => format!("{} {} {t}", s.labels, s.value),
            None => format!("{} {}", s.labels, s.value),
        })
        .collect())
}

fn check(cases: &[(&str, Format, &str, Want)]) {
    let mut failed = Vec::new();
    for (rule, format, body, want) in cases {
        let got = run(*format, body.as_bytes());
        let ok = match (want, &got) {
            (Samples(w), Ok(g)) => g.iter().map(String::as_str).eq(w.iter().copied()),
            (Err_(at, words), Err(e)) => {
                let e = e.to_string();
                e.starts_with(&format!("line {at}")) && e.contains(words)
            }
            _ => false,
        };
        if !ok {
            failed.push(format!("{rule} ({format:?}) {body:?}: got {got:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Demonstrates the text format's rules: what Prometheus' text parser accepts is accepted
/// (with these exact samples), and what it refuses is refused at the named line and column.
#[test]
fn text_format() {
    check(&[
        // Whitespace: anywhere between tokens, including between the name and '{'.
        (
            "space before brace",
            Text,
            "go_gc_duration_seconds { quantile=\"1.0\" } 0.1\n",
            Samples(&["go_gc_duration_seconds{quantile=\"1.0\"} 0.1"]),
        ),
        (
            "spaces around =",
            Text,
            "a { q = \"1\" , b= \"2\", } 3\n",
            Samples(&["a{b=\"2\", q=\"1\"} 3"]),
        ),
        (
            "pairs without comma",
            Text,
            "a{q=\"2\" b=\"x\"} 1\n",
            Samples(&["a{b=\"x\", q=\"2\"} 1"]),
        ),
        (
            "tabs and trailing blanks",
            Text,
            "\ta\t1  \t123123 \n",
            Samples(&["a{} 1 123123"]),
        ),
        (
            "no space after brace",
            Text,
            "a{b=\"c\"}1\n",
            Samples(&["a{b=\"c\"} 1"]),
        ),
        ("blank lines", Text, "\n  \na 1\n\n", Samples(&["a{} 1"])),
        ("no final newline", Text, "a 1", Samples(&["a{} 1"])),
        // Quoted UTF-8 names (Prometheus 3), escapes included.
        (
            "quoted name",
            Text,
            "{\"go.gc\",quantile=\"0\"} 4\n",
            Samples(&["go.gc{quantile=\"0\"} 4"]),
        ),
        (
            "quoted name with escapes",
            Text,
            "{\"a \\\"b\\\"\\n\", \"c\\\\d\"=\"6\"} 10.0\n",
            Samples(&["a \"b\"\n{c\\d=\"6\"} 10"]),
        ),
        (
            "quoted name twice",
            Text,
            "a{\"b\"} 1\n",
            Err_("1:3", "metric name already set"),
        ),
        (
            "no name",
            Text,
            "{a=\"ok\"} 1\n",
            Err_("1:1", "metric name not set"),
        ),
        // Comments and metadata.
        (
            "HELP without text",
            Text,
            "# HELP nohelp1\n# HELP nohelp2 \na 1\n",
            Samples(&["a{} 1"]),
        ),
        (
            "HELP alone is a comment",
            Text,
            "# HELP\n#\n# Hrandom\n#TYPE x y\n# FOO bar\na 1\n",
            Samples(&["a{} 1"]),
        ),
        (
            "HELP without a name",
            Text,
            "# HELP #\n",
            Err_("1:8", "expected metric name after HELP"),
        ),
        (
            "TYPE without a name",
            Text,
            "# TYPE #\n",
            Err_("1:8", "expected metric name after TYPE"),
        ),
        (
            "TYPE tab separated",
            Text,
            "#\tTYPE\ta\tcounter\na 1\n",
            Samples(&["a{} 1"]),
        ),
        (
            "TYPE double space",
            Text,
            "# TYPE a  counter\n",
            Err_("1:10", "invalid metric type \" counter\""),
        ),
        (
            "TYPE missing",
            Text,
            "# TYPE a\n",
            Err_("1:9", "invalid metric type \"\""),
        ),
        (
            "TYPE unknown is OpenMetrics only",
            Text,
            "# TYPE a unknown\n",
            Err_("1:10", "invalid metric type \"unknown\""),
        ),
        (
            "TYPE gaugehistogram is OpenMetrics only",
            Text,
            "# TYPE a gaugehistogram\n",
            Err_("1:10", "invalid metric type"),
        ),
        (
            "TYPE untyped",
            Text,
            "# TYPE a untyped\na 1\n",
            Samples(&["a{} 1"]),
        ),
        (
            "comment not UTF-8",
            Text,
            "# caf\u{e9}\n# \u{ff}\na 1\n",
            Samples(&["a{} 1"]),
        ),
        (
            "# EOF is a comment",
            Text,
            "a 1\n# EOF\nb 2\n",
            Samples(&["a{} 1", "b{} 2"]),
        ),
        // Labels.
        (
            "single quotes",
            Text,
            "a{b='c'} 1\n",
            Err_("1:5", "expected label value"),
        ),
        (
            "label name with colon",
            Text,
            "a{b:c=\"d\"} 1\n",
            Err_("1:4", "expected '='"),
        ),
        (
            "empty label name",
            Text,
            "a{=\"\"} 0\n",
            Err_("1:3", "expected label name"),
        ),
        (
            "double comma",
            Text,
            "a{b=\"c\",,} 0\n",
            Err_("1:9", "expected label name"),
        ),
        (
            "unterminated value",
            Text,
            "a{b=\"c} 0\n",
            Err_("1:5", "unterminated"),
        ),
        (
            "duplicate label",
            Text,
            "a{b=\"1\",b=\"2\"} 0\n",
            Err_("1:9", "duplicate label"),
        ),
        (
            "__name__ in braces",
            Text,
            "a{__name__=\"b\"} 0\n",
            Err_("1:3", "__name__"),
        ),
        (
            "unknown escapes kept",
            Text,
            "a{b=\"x\\ty\"} 1\n",
            Samples(&["a{b=\"x\\\\ty\"} 1"]),
        ),
        // Values and timestamps.
        (
            "special values",
            Text,
            "a +Inf\nb -inf\nc Infinity\nd nan\ne 1e3\nf .5\n",
            Samples(&[
                "a{} inf", "b{} -inf", "c{} inf", "d{} NaN", "e{} 1000", "f{} 0.5",
            ]),
        ),
        (
            "value true",
            Text,
            "a true\n",
            Err_("1:3", "invalid value \"true\""),
        ),
        (
            "value with underscore",
            Text,
            "foo 1_2\n",
            Err_("1:5", "invalid value"),
        ),
        (
            "hex value",
            Text,
            "foo 0x1p-3\n",
            Err_("1:5", "invalid value"),
        ),
        (
            "signed NaN",
            Text,
            "foo -NaN\n",
            Err_("1:5", "invalid value"),
        ),
        (
            "overflowing value",
            Text,
            "foo 1e999\n",
            Err_("1:5", "invalid value"),
        ),
        ("value missing", Text, "a\n", Err_("1:2", "expected value")),
        (
            "second brace",
            Text,
            "a{b=\"c\"}{d=\"e\"} 1\n",
            Err_("1:9", "expected value"),
        ),
        (
            "negative timestamp",
            Text,
            "a 1 -5\n",
            Err_("1:5", "expected timestamp"),
        ),
        (
            "float timestamp",
            Text,
            "a 1 1.5\n",
            Err_("1:6", "expected end of line after the timestamp"),
        ),
        (
            "timestamp with underscore",
            Text,
            "foo 0 1_2\n",
            Err_("1:8", "expected end of line"),
        ),
        (
            "timestamp overflow",
            Text,
            "a 1 99999999999999999999\n",
            Err_("1:5", "invalid timestamp"),
        ),
        (
            "comment after sample",
            Text,
            "a 1 # x\n",
            Err_("1:5", "expected timestamp"),
        ),
        (
            "exemplar in text",
            Text,
            "a 1 # {t=\"1\"} 1\n",
            Err_("1:5", "expected timestamp"),
        ),
        (
            "carriage return",
            Text,
            "a 1\r\n",
            Err_("1:3", "invalid value \"1\\r\""),
        ),
        (
            "bad start",
            Text,
            "1a 1\n",
            Err_("1:1", "expected a metric name"),
        ),
        (
            "NUL at line start ends the body",
            Text,
            "a 1\n\0b 2\nc 3\n",
            Samples(&["a{} 1"]),
        ),
        (
            "NUL in label value",
            Text,
            "a{b=\"x\0\"} 1\n",
            Samples(&["a{b=\"x\\0\"} 1"]),
        ),
        // le and quantile: normalised under the last TYPE line, never refused.
        (
            "le normalised",
            Text,
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum{le=\"0.10\"} 2\n",
            Samples(&["h_bucket{le=\"1.0\"} 1", "h_sum{le=\"0.1\"} 2"]),
        ),
        (
            "quantile normalised",
            Text,
            "# TYPE s summary\ns{quantile=\"0.50\"} 1\n",
            Samples(&["s{quantile=\"0.5\"} 1"]),
        ),
        (
            "le not a number kept",
            Text,
            "# TYPE h histogram\nh_bucket{le=\"x\"} NaN\nh_bucket 2\n",
            Samples(&["h_bucket{le=\"x\"} NaN", "h_bucket{} 2"]),
        ),
        (
            "le under gauge kept",
            Text,
            "# TYPE g gauge\ng{le=\"1\"} 1\n",
            Samples(&["g{le=\"1\"} 1"]),
        ),
    ]);
}

/// Demonstrates the OpenMetrics rules: strict single spaces, the metadata lines only,
/// exemplars checked, and `# EOF` required as the last line.
#[test]
fn openmetrics_format() {
    check(&[
        ("minimal", Om, "a 1\n# EOF\n", Samples(&["a{} 1"])),
        ("EOF without newline", Om, "a 1\n# EOF", Samples(&["a{} 1"])),
        ("empty body with EOF", Om, "# EOF\n", Samples(&[])),
        ("metadata", Om, "# TYPE a_seconds counter\n# UNIT a_seconds seconds\n# HELP a_seconds Some text.\na_seconds_total 1 1.5\n# EOF\n", Samples(&["a_seconds_total{} 1 1500"])),
        ("quoted names", Om, "# TYPE \"a.b\" gauge\n{\"a.b\",c=\"d\"} 1\n# EOF\n", Samples(&["a.b{c=\"d\"} 1"])),
        ("trailing comma", Om, "a{b=\"c\",} 1\n# EOF\n", Samples(&["a{b=\"c\"} 1"])),
        ("empty braces", Om, "a{} 1\n# EOF\n", Samples(&["a{} 1"])),
        ("timestamp truncated to ms", Om, "a 1 1520879607.7899\n# EOF\n", Samples(&["a{} 1 1520879607789"])),
        ("negative timestamp", Om, "a 1 -1.5\n# EOF\n", Samples(&["a{} 1 -1500"])),
        // Exemplars: parsed and checked, then dropped.
        ("exemplar", Om, "a_total 1 # {id=\"c\"} 2 1.5\n# EOF\n", Samples(&["a_total{} 1"])),
        ("exemplar after timestamp", Om, "a_total 1 2 # {} 3\n# EOF\n", Samples(&["a_total{} 1 2000"])),
        ("exemplar quoted label name", Om, "a 1 # {\"x.y\"=\"1\"} 2\n# EOF\n", Samples(&["a{} 1"])),
        ("exemplar without value", Om, "a 1 # {id=\"c\"}\n# EOF\n", Err_("1:15", "expected a space and value after exemplar labels")),
        ("exemplar bad value", Om, "a 1 # {id=\"c\"} x\n# EOF\n", Err_("1:16", "invalid value \"x\"")),
        ("exemplar bad label", Om, "a 1 # {id=c} 1\n# EOF\n", Err_("1:11", "expected label value")),
        ("exemplar lone quoted string", Om, "a 1 # {\"id\"} 1\n# EOF\n", Err_("1:8", "lone quoted string")),
        ("exemplar NaN timestamp", Om, "a 1 # {} 1 NaN\n# EOF\n", Err_("1:12", "invalid exemplar timestamp")),
        ("exemplar trailing text", Om, "a 1 # {} 1 2 3\n# EOF\n", Err_("1:13", "expected end of line after the exemplar timestamp")),
        ("exemplar no space in marker", Om, "a 1 #{} 1\n# EOF\n", Err_("1:5", "invalid timestamp \"#{}\"")),
        ("exemplar label with space", Om, "a 1 # {a=\"b\", c=\"d\"} 1\n# EOF\n", Err_("1:14", "expected label name")),
        // Whitespace: exactly one space, none in braces, no blank lines.
        ("space before brace", Om, "a {b=\"c\"} 1\n# EOF\n", Err_("1:3", "invalid value \"{b=\\\"c\\\"}\"")),
        ("space in braces", Om, "a{ b=\"c\"} 1\n# EOF\n", Err_("1:3", "expected label name")),
        ("space after comma", Om, "a{b=\"c\", d=\"e\"} 1\n# EOF\n", Err_("1:9", "expected label name")),
        ("pairs without comma", Om, "a{b=\"c\"d=\"e\"} 1\n# EOF\n", Err_("1:8", "expected ',' or '}'")),
        ("double space", Om, "a  1\n# EOF\n", Err_("1:3", "expected value")),
        ("tab", Om, "a\t1\n# EOF\n", Err_("1:2", "expected a space")),
        ("trailing space", Om, "a 1 \n# EOF\n", Err_("1:5", "expected timestamp or exemplar")),
        ("leading space", Om, " a 1\n# EOF\n", Err_("1:1", "expected a metric name")),
        ("blank line", Om, "a 1\n\nb 1\n# EOF\n", Err_("2:1", "empty line")),
        // Metadata lines.
        ("HELP without text", Om, "# HELP a\n# EOF\n", Err_("1:9", "expected a space and text in HELP")),
        ("HELP with empty text", Om, "# HELP a \na 1\n# EOF\n", Samples(&["a{} 1"])),
        ("UNIT without text", Om, "# UNIT a\n# EOF\n", Err_("1:9", "expected a space and text in UNIT")),
        ("UNIT not a suffix", Om, "# UNIT a_bytes seconds\n# EOF\n", Err_("1:16", "not a suffix")),
        ("UNIT without underscore", Om, "# UNIT abytes bytes\n# EOF\n", Err_("1:15", "not a suffix")),
        ("UNIT is the whole name", Om, "# UNIT bytes bytes\n# EOF\n", Err_("1:14", "not a suffix")),
        ("unknown comment", Om, "# FOO bar\n# EOF\n", Err_("1:1", "OpenMetrics has no other comments")),
        ("bare hash", Om, "#\n# EOF\n", Err_("1:1", "OpenMetrics has no other comments")),
        ("TYPE untyped is text only", Om, "# TYPE a untyped\n# EOF\n", Err_("1:10", "invalid metric type \"untyped\"")),
        ("TYPE trailing space", Om, "# TYPE a counter \n# EOF\n", Err_("1:10", "invalid metric type \"counter \"")),
        ("OM types", Om, "# TYPE a gaugehistogram\n# TYPE b info\n# TYPE c stateset\n# TYPE d unknown\nd 1\n# EOF\n", Samples(&["d{} 1"])),
        // # EOF.
        ("missing EOF", Om, "a 1\n", Err_("2: ", "does not end with \"# EOF\"")),
        ("empty body", Om, "", Err_("1: ", "does not end with \"# EOF\"")),
        ("data after EOF", Om, "# EOF\na 1\n", Err_("2:1", "unexpected data after # EOF")),
        ("blank line after EOF", Om, "a 1\n# EOF\n\n", Err_("3:1", "unexpected data after # EOF")),
        ("text after EOF word", Om, "# EOF x\n", Err_("1:6", "unexpected data after # EOF")),
        // Values, labels, names as in text.
        ("bad value", Om, "a 1_2\n# EOF\n", Err_("1:3", "invalid value")),
        ("NaN timestamp", Om, "a 1 NaN\n# EOF\n", Err_("1:5", "invalid timestamp")),
        ("Inf timestamp", Om, "a 1 +Inf\n# EOF\n", Err_("1:5", "invalid timestamp")),
        ("no name", Om, "{b=\"c\"} 1\n# EOF\n", Err_("1:1", "metric name not set")),
        ("quoted name escapes", Om, "{\"a\\\"b\"} 1\n# EOF\n", Samples(&["a\"b{} 1"])),
        ("carriage return", Om, "a 1\r\n# EOF\n", Err_("1:3", "invalid value")),
        ("le normalised", Om, "# TYPE h histogram\nh_bucket{le=\"10\"} 1\n# EOF\n", Samples(&["h_bucket{le=\"10.0\"} 1"])),
        ("le under gaugehistogram kept", Om, "# TYPE h gaugehistogram\nh_bucket{le=\"10\"} 1\n# EOF\n", Samples(&["h_bucket{le=\"10\"} 1"])),
    ]);
}

/// Demonstrates that exemplars are counted as seen, and that a body without a content type is
/// read as OpenMetrics only when it ends with `# EOF`.
#[test]
fn exemplars_counted_and_auto_format() {
    let mut seen = 0;
    let stats = parse_each(
        b"a_total 1 # {id=\"x\"} 1\nb 2\n# EOF\n",
        &ParseOptions {
            strict: true,
            format: Om,
            ..ParseOptions::default()
        },
        |_| seen += 1,
    )
    .unwrap();
    assert_eq!((seen, stats.samples, stats.exemplars), (2, 2, 1));
    let auto = |b: &[u8]| parse(b, &ParseOptions::default()).unwrap().format;
    assert_eq!(auto(b"a 1\n# EOF\n"), Om);
    assert_eq!(auto(b"a 1\n"), Text);
}
