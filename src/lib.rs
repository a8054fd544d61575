//! natsguard: keeps NATS client transport security from drifting.
//!
//! A pure core (effective environment, URL analysis, rules, incident lifecycle, status) and a
//! thin I/O shell (the controller and the offline `check` CLI).

pub mod crd;
pub mod duration;
pub mod findings;
pub mod env;
pub mod evaluate;
pub mod natsurl;
pub mod rules;
pub mod truthy;
pub mod check;
pub mod controller;
