//! The adapter's engine: exposition parser, series store and PromQL evaluator.
