//! Wall-clock time as the store and the APIs count it: Unix milliseconds, like Prometheus'
//! timestamps. Every layer reads it from here, so none imports another for the time.

/// Now, in Unix milliseconds (0 before 1970: a clock that far off makes every age huge, which
/// the callers already report).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
