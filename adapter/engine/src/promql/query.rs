//! A PromQL query parsed once: its syntax tree, the metric names it reads and the window of
//! history it needs travel together, so an HPA annotation's check, the adapter's metric filter,
//! its warm-up check and `/api/v1` warnings, and the evaluation all read the same parse (an HPA
//! query used to be parsed four times per evaluation path).

pub mod window;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use promql_parser::parser::Expr;

use super::{parse, Error};

/// A parsed query. Cheap to clone: the syntax tree is shared.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    ast: Arc<Expr>,
    /// `Err` when a selector names no metric exactly (`{__name__=~".+"}`): no name filter can
    /// be derived from it.
    names: Result<BTreeSet<String>, Error>,
    window: Duration,
}

impl Query {
    /// Parses `text` with the engine's parser: within the process-wide size and depth limits
    /// (`--query-max-length`, `--query-max-depth`) and with promql-parser's panics caught.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let ast = parse::parse(text)?;
        Ok(Self {
            names: parse::metric_names_of(&ast),
            window: window::of(&ast),
            text: text.to_owned(),
            ast: Arc::new(ast),
        })
    }

    /// The text as written (sent as is to a remote Prometheus).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The syntax tree the engine evaluates.
    pub fn ast(&self) -> &Expr {
        &self.ast
    }

    /// The metric names it reads; an error when a selector names none exactly.
    pub fn metric_names(&self) -> Result<&BTreeSet<String>, &Error> {
        self.names.as_ref()
    }

    /// The stretch of past time it reads (see [`window`]).
    pub fn window(&self) -> Duration {
        self.window
    }
}

impl PartialEq for Query {
    /// Two queries are the same when their texts are: the rest follows from the text.
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
