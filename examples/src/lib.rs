//! Runnable examples for netpool: see the `[[example]]` targets.
