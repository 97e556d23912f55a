//! Reading a promqltest script into commands.

use crate::labels::Labels;
use crate::store::STALE_NAN;

/// One series of a `load` block.
#[derive(Clone, Debug)]
pub struct LoadSeries {
    /// Labels.
    pub labels: Labels,
    /// Expanded points.
    pub points: Vec<(i64, f64)>,
    /// Why some points could not be loaded (native histograms, start timestamps), if so.
    pub unsupported: Option<String>,
}

/// An expected series: values per step (`None` where `_`).
#[derive(Clone, Debug)]
pub struct Expected {
    /// Labels (`None` for a bare scalar line).
    pub labels: Option<Labels>,
    /// Values in step order.
    pub values: Vec<Option<f64>>,
    /// The line had native histogram values.
    pub native: bool,
}

/// An `eval` command with its expectations.
#[derive(Clone, Debug, Default)]
pub struct Eval {
    pub line: usize,
    pub expr: String,
    /// `None` for instant; `Some((start, end, step))` for range.
    pub range: Option<(i64, i64, i64)>,
    pub at: i64,
    pub fail: Option<String>,
    pub ordered: bool,
    pub string: Option<String>,
    pub range_vector: Option<(i64, i64, i64)>,
    pub expected: Vec<Expected>,
    pub unreadable: Option<String>,
}

/// A script command.
#[derive(Clone, Debug)]
pub enum Command {
    /// `load <step>` with its series.
    Load {
        /// Step in ms.
        step: i64,
        /// Series.
        series: Vec<LoadSeries>,
        /// `load_with_nhcb`: classic histograms also become native ones.
        nhcb: bool,
    },
    /// `clear`
    Clear,
    /// `eval …`
    Eval(Box<Eval>),
    /// A line the runner cannot read.
    Invalid {
        /// 1-based line.
        line: usize,
        /// Why.
        msg: String,
    },
}

/// Go's model.ParseDuration (`1h30m`, `5m`, `100ms`, `0`), in milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if s == "0" {
        return Some(0);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: i64 = s[st..i].parse().ok()?;
        let ust = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mult = match &s[ust..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(if neg { -total } else { total })
}

/// Splits a series line into its descriptor and value tokens (`{{…}}` kept whole).
fn split_series(line: &str) -> (String, Vec<String>) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut in_q = false;
    while i < b.len() {
        let c = b[i];
        if in_q {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_q = false;
            }
        } else if c == b'"' {
            in_q = true;
        } else if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                i += 1;
                break;
            }
        } else if depth == 0 && (c == b' ' || c == b'\t') {
            break;
        }
        i += 1;
    }
    let desc = line[..i.min(line.len())].to_string();
    let rest = &line[i.min(line.len())..];
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut hist = 0;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' && chars.peek() == Some(&'{') {
            hist += 1;
        }
        if c == '}' && chars.peek() == Some(&'}') && hist > 0 {
            hist -= 1;
            cur.push(c);
            cur.push(chars.next().unwrap_or('}'));
            continue;
        }
        if hist == 0 && c.is_whitespace() {
            if !cur.is_empty() {
                toks.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        toks.push(cur);
    }
    (desc, toks)
}

fn parse_num(s: &str) -> Option<f64> {
    match s {
        "stale" => Some(f64::from_bits(STALE_NAN)),
        _ => crate::exposition::parse_float(s).or_else(|| s.parse().ok()),
    }
}

/// Expands value tokens: `a+bxn`, `a-bxn`, `axn`, `_`, `_xn`, `stale`, numbers.
/// `Some(None)` entries are omitted steps; `Err` for a native histogram.
fn expand(toks: &[String]) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for t in toks {
        if t.starts_with("{{") {
            return Err("native histogram".into());
        }
        if t == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = t.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad token {t}"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if let Some(v) = parse_num(t) {
            out.push(Some(v));
            continue;
        }
        let (head, n) = t.rsplit_once('x').ok_or_else(|| format!("bad token {t}"))?;
        let n: usize = n.parse().map_err(|_| format!("bad token {t}"))?;
        // Split `a+b` / `a-b` at the last sign that is not leading and not an exponent sign.
        let hb = head.as_bytes();
        let split = (1..hb.len())
            .rev()
            .find(|&i| (hb[i] == b'+' || hb[i] == b'-') && !matches!(hb[i - 1], b'e' | b'E'));
        let (a, b) = match split {
            Some(i) => {
                let a = parse_num(&head[..i]).ok_or_else(|| format!("bad token {t}"))?;
                let b = parse_num(&head[i + 1..]).ok_or_else(|| format!("bad token {t}"))?;
                (a, if hb[i] == b'-' { -b } else { b })
            }
            None => (
                parse_num(head).ok_or_else(|| format!("bad token {t}"))?,
                0.0,
            ),
        };
        if a.to_bits() == STALE_NAN {
            out.extend(std::iter::repeat_n(Some(a), n + 1));
            continue;
        }
        for k in 0..=n {
            out.push(Some(a + b * k as f64));
        }
    }
    Ok(out)
}

fn parse_labels(desc: &str) -> Result<Labels, String> {
    use promql_parser::parser::Expr;
    if desc == "{}" {
        return Ok(Labels::default());
    }
    // The exposition grammar reads `name{a="b"}` with escapes and quoted names.
    let line = format!("{desc} 0\n");
    let mut found = None;
    let opts = crate::exposition::ParseOptions {
        strict: true,
        format: crate::exposition::Format::Text004,
        ..Default::default()
    };
    if crate::exposition::parse_each(line.as_bytes(), &opts, |s| {
        found = Some(Labels::new(
            std::iter::once(("__name__", s.name)).chain(s.labels.iter().map(|(n, v)| (&**n, &**v))),
        ));
    })
    .is_ok()
    {
        if let Some(l) = found {
            return Ok(l);
        }
    }
    let e = promql_parser::parser::parse(desc).map_err(|e| format!("series {desc}: {e}"))?;
    let Expr::VectorSelector(vs) = e else {
        return Err(format!("series {desc}: not a selector"));
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(n) = vs.name {
        pairs.push(("__name__".into(), n));
    }
    for m in vs.matchers.matchers {
        pairs.push((m.name, m.value));
    }
    Ok(Labels::new(pairs))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let inner = s
        .strip_prefix(['"', '`'])
        .and_then(|x| x.strip_suffix(['"', '`']))
        .unwrap_or(s);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// Reads a script. Lines are trimmed and `#` lines blanked, as the Go harness does.
pub(super) fn parse(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.trim().starts_with('#') {
                ""
            } else {
                l.trim()
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let lineno = i + 1;
        i += 1;
        if l.is_empty() {
            continue;
        }
        let block = |i: &mut usize| {
            let mut b = Vec::new();
            while *i < lines.len() && !lines[*i].is_empty() {
                b.push((*i + 1, lines[*i]));
                *i += 1;
            }
            b
        };
        let (cmd, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        match cmd {
            "clear" => out.push(Command::Clear),
            "load" | "load_with_nhcb" => {
                let step = parse_duration_ms(rest.trim());
                let b = block(&mut i);
                let Some(step) = step else {
                    out.push(Command::Invalid {
                        line: lineno,
                        msg: format!("bad load step {rest:?}"),
                    });
                    continue;
                };
                let mut series = Vec::new();
                for (ln, sl) in b {
                    let (desc, toks) = split_series(sl);
                    let mut unsupported = None;
                    // `series@st`: a start timestamp per sample, which this engine does not hold.
                    let parsed = match desc.split_once('@') {
                        Some((d, _)) if parse_labels(&desc).is_err() => {
                            unsupported = Some("start timestamps (@st)".to_string());
                            parse_labels(d)
                        }
                        _ => parse_labels(&desc),
                    };
                    if parsed.as_ref().is_ok_and(|l| {
                        l.iter()
                            .any(|(n, _)| n.starts_with("__") && n != "__name__")
                    }) {
                        unsupported = Some("type and unit labels (__type__, __unit__)".to_string());
                    }
                    let labels = match parsed {
                        Ok(l) => l,
                        Err(msg) => {
                            out.push(Command::Invalid { line: ln, msg });
                            continue;
                        }
                    };
                    // Load float points; points this engine cannot hold are left out and the
                    // series marked, so that evals reading it are skipped.
                    let mut vals = Vec::new();
                    for t in &toks {
                        match expand(std::slice::from_ref(t)) {
                            Ok(v) => vals.extend(v),
                            Err(_) if t.starts_with("{{") => {
                                unsupported = Some("native histogram samples".into());
                                vals.push(None);
                            }
                            Err(msg) => {
                                unsupported = Some(format!("series notation not supported: {msg}"));
                                vals.push(None);
                            }
                        }
                    }
                    let points = vals
                        .iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| (k as i64 * step, v)))
                        .collect();
                    series.push(LoadSeries {
                        labels,
                        points,
                        unsupported,
                    });
                }
                out.push(Command::Load {
                    step,
                    series,
                    nhcb: cmd == "load_with_nhcb",
                });
            }
            "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
                let mut e = Eval {
                    line: lineno,
                    ..Eval::default()
                };
                if cmd == "eval_fail" {
                    e.fail = Some(String::new());
                }
                e.ordered = cmd == "eval_ordered";
                let words: Vec<&str> = rest.split_whitespace().collect();
                let parsed = if words.first() == Some(&"instant") && words.get(1) == Some(&"at") {
                    words.get(2).and_then(|t| parse_duration_ms(t)).map(|t| {
                        e.at = t;
                        skip_words(rest, 3)
                    })
                } else if words.first() == Some(&"range")
                    && words.get(1) == Some(&"from")
                    && words.get(3) == Some(&"to")
                    && words.get(5) == Some(&"step")
                {
                    match (
                        parse_duration_ms(words[2]),
                        parse_duration_ms(words[4]),
                        words.get(6).and_then(|s| parse_duration_ms(s)),
                    ) {
                        (Some(a), Some(b), Some(s)) => {
                            e.range = Some((a, b, s));
                            Some(skip_words(rest, 7))
                        }
                        _ => None,
                    }
                } else {
                    None
                };
                let b = block(&mut i);
                let Some(expr) = parsed else {
                    out.push(Command::Invalid {
                        line: lineno,
                        msg: format!("bad eval command {l:?}"),
                    });
                    continue;
                };
                e.expr = expr.to_string();
                for (_, bl) in b {
                    if let Some(x) = bl.strip_prefix("expect ") {
                        let x = x.trim();
                        if let Some(f) = x.strip_prefix("fail") {
                            e.fail = Some(f.trim().to_string());
                        } else if x == "ordered" {
                            e.ordered = true;
                        } else if let Some(s) = x.strip_prefix("string") {
                            e.string = Some(unquote(s));
                        } else if let Some(r) = x.strip_prefix("range vector") {
                            let w: Vec<&str> = r.split_whitespace().collect();
                            // `from A to B step S` (the word `from` is optional upstream).
                            let w: Vec<&str> = w.into_iter().filter(|x| *x != "from").collect();
                            if let (Some(a), Some(b2), Some(s)) = (
                                w.first().and_then(|s| parse_duration_ms(s)),
                                w.get(2).and_then(|s| parse_duration_ms(s)),
                                w.get(4).and_then(|s| parse_duration_ms(s)),
                            ) {
                                e.range_vector = Some((a, b2, s));
                            } else {
                                e.unreadable = Some(format!("bad expect line {bl:?}"));
                            }
                        }
                        // warn, info, no_warn, no_info: annotations are not produced; ignored.
                        continue;
                    }
                    if bl.starts_with("expected_fail_message")
                        || bl.starts_with("expected_fail_regexp")
                    {
                        e.fail = Some(String::new());
                        continue;
                    }
                    if let Some(v) = parse_num(bl) {
                        e.expected.push(Expected {
                            labels: None,
                            values: vec![Some(v)],
                            native: false,
                        });
                        continue;
                    }
                    let (desc, toks) = split_series(bl);
                    let native = toks.iter().any(|t| t.starts_with("{{"));
                    let labels = parse_labels(&desc);
                    let values = if native { Ok(vec![]) } else { expand(&toks) };
                    match (labels, values) {
                        (Ok(labels), Ok(values)) => e.expected.push(Expected {
                            labels: Some(labels),
                            values,
                            native,
                        }),
                        (Err(m), _) | (_, Err(m)) => e.unreadable = Some(m),
                    }
                }
                out.push(Command::Eval(Box::new(e)));
            }
            _ => out.push(Command::Invalid {
                line: lineno,
                msg: format!("unknown command {cmd:?}"),
            }),
        }
    }
    out
}

/// `s` without its first `n` whitespace-separated words.
fn skip_words(s: &str, n: usize) -> &str {
    let mut rest = s.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest
}
