//! natsguard: keeps NATS client transport security from drifting.
//!
//! A pure core (effective environment, URL analysis, rules, incident lifecycle, status) and a
//! thin I/O shell (the controller and the offline `check` CLI).

pub mod check;
pub mod controller;
pub mod crd;
pub mod duration;
pub mod env;
pub mod evaluate;
pub mod findings;
pub mod natsurl;
pub mod rules;
pub mod truthy;
