//! The `{...}` of a sample or an exemplar: label pairs, and in a sample a quoted metric name
//! (Prometheus 3's UTF-8 names, `{"my.metric",a="b"}`).

use std::borrow::Cow;

use super::cursor::Cur;
use super::Result;

/// What the two formats allow inside braces.
#[derive(Clone, Copy)]
pub(super) struct Rules {
    /// Text 0.0.4: spaces and tabs around every token, and pairs without a comma between
    /// them (Prometheus' lexer allows both; OpenMetrics allows neither).
    pub(super) text: bool,
    /// An exemplar's label set, where a lone quoted string (a metric name) is refused.
    pub(super) exemplar: bool,
}

/// Parses a label set; the cursor is just past `{` and ends just past `}`. Each pair goes to
/// `push` with the byte offset of its name; a quoted metric name goes to `name`, which must
/// not be set already.
pub(super) fn label_set<'a>(
    c: &mut Cur<'a>,
    rules: Rules,
    name: &mut Option<Cow<'a, str>>,
    mut push: impl FnMut(&Cur<'a>, usize, Cow<'a, str>, Cow<'a, str>) -> Result<()>,
) -> Result<()> {
    let ws = |c: &mut Cur<'a>| {
        if rules.text {
            c.skip_ws();
        }
    };
    ws(c);
    loop {
        if c.eat(b'}') {
            return Ok(());
        }
        let at = c.i;
        let (lname, quoted) = if c.peek() == Some(b'"') {
            (c.quoted()?, true)
        } else if let Some(n) = c.label_name() {
            (Cow::Borrowed(n), false)
        } else {
            return Err(c.err(format!("expected label name, found {}", c.found())));
        };
        ws(c);
        if quoted && matches!(c.peek(), Some(b',' | b'}')) {
            if rules.exemplar {
                return Err(c.err_at(at, "expected label name, found a lone quoted string"));
            }
            if name.is_some() {
                return Err(c.err_at(at, "metric name already set"));
            }
            if lname.is_empty() {
                return Err(c.err_at(at, "empty metric name"));
            }
            *name = Some(lname);
            if c.eat(b',') {
                ws(c);
            }
            continue;
        }
        if quoted && lname.is_empty() {
            return Err(c.err_at(at, "empty label name"));
        }
        if !c.eat(b'=') {
            return Err(c.err(format!(
                "expected '=' after label name {lname:?}, found {}",
                c.found()
            )));
        }
        ws(c);
        if c.peek() != Some(b'"') {
            return Err(c.err(format!("expected label value, found {}", c.found())));
        }
        let value = c.quoted()?;
        push(c, at, lname, value)?;
        ws(c);
        if c.eat(b',') {
            ws(c);
        } else if !rules.text && c.peek() != Some(b'}') {
            return Err(c.err(format!("expected ',' or '}}', found {}", c.found())));
        }
    }
}
