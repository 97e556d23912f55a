//! `make demo`, shortened, as the user runs it: the walk-through (`walk`) and scale to zero with the
//! plain HPA and with `--keda` (`zero`). One binary for both: each would otherwise link the harness
//! and its dependencies again.

mod walk;
mod zero;
