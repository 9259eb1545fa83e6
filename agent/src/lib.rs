//! The Kubeworkz agent as a library, so tests can drive it without spawning the binary.
//!
//! The agent stays small on purpose: configuration, enrollment and transport live here; the
//! collectors it runs live in `kubeworkz-shared`, because the hub's pull mode runs the same code.

pub mod config;
