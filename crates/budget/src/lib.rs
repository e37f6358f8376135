//! steady's decision engine.
#![forbid(unsafe_code)]

pub mod intstr;
pub mod selector;
