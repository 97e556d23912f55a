//! Label matchers, as PromQL selectors use them.

use regex::Regex;

use crate::labels::Labels;

/// How a matcher compares a label value.
#[derive(Clone, Debug)]
pub enum MatchOp {
    /// `=`
    Equal(String),
    /// `!=`
    NotEqual(String),
    /// `=~` (fully anchored, `.` matches newline)
    Regex(Regex),
    /// `!~`
    NotRegex(Regex),
}

/// One `name op value` matcher; an absent label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
}

/// Most memory one compiled regex may take (its program), and most its lazy DFA may cache
/// while matching. An HPA's alternation of a few hundred pod names takes a few hundred KB; a
/// regex bomb (a huge or deeply repeated pattern) is refused instead of taking hundreds of MB.
pub const REGEX_SIZE_LIMIT: usize = 4 << 20;
/// See [`REGEX_SIZE_LIMIT`].
pub const REGEX_DFA_SIZE_LIMIT: usize = 2 << 20;

/// Compiles `re` as PromQL does: anchored at both ends, with `.` matching `\n` (Prometheus 3),
/// within [`REGEX_SIZE_LIMIT`].
pub fn compile_anchored(re: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?s:{re})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal(value.into()),
        }
    }

    /// Compiles a PromQL regex matcher: anchored, with `.` matching `\n` as in Prometheus 3.
    pub fn regex(name: &str, re: &str, negate: bool) -> Result<Matcher, regex::Error> {
        let r = compile_anchored(re)?;
        let op = if negate {
            MatchOp::NotRegex(r)
        } else {
            MatchOp::Regex(r)
        };
        Ok(Matcher {
            name: name.into(),
            op,
        })
    }

    /// Whether `value` (empty for an absent label) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => v == value,
            MatchOp::NotEqual(v) => v != value,
            MatchOp::Regex(r) => r.is_match(value),
            MatchOp::NotRegex(r) => !r.is_match(value),
        }
    }

    /// Whether a label set satisfies the matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// True when the matcher matches the empty string (so it selects series lacking the label).
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}
