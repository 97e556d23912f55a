//! Helpers shared by the fuzz targets; the code under test is in the crates they depend on
//! (`mixerless-hpa`, `mixerless-engine`, `mixerless-filter`).

/// libfuzzer-sys aborts in its panic hook, so even a panic the code under test catches on
/// purpose (the adapter and the engine catch promql-parser's panics) would count as a crash.
/// Targets that go through such code call this first: the default hook prints and returns, and
/// a panic that escapes the target still aborts (libfuzzer-sys checks the unwound result).
pub fn allow_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(std::panic::take_hook()));
}
