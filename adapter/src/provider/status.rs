//! `/status`: the HPAs, their errors and every query's last outcome.

use super::Provider;
use crate::sync;

impl Provider {
    /// HPAs, their errors and every query's last outcome, for `/status`.
    pub fn status(&self) -> serde_json::Value {
        let state = sync::read(&self.state);
        serde_json::json!({
            "hpas": state.hpas,
            "file_errors": state.file_errors.iter()
                .map(|(f, e)| serde_json::json!({"file": f, "error": e})).collect::<Vec<_>>(),
            "metrics": state.entries,
        })
    }
}
