//! natsguard: keeps NATS client transport security from drifting.
//!
//! A pure core (effective environment, URL analysis, rules, incident lifecycle, status) and a
//! thin I/O shell (the controller and the offline `check` CLI).

pub mod admission;
pub mod check;
pub mod controller;
pub mod crd;
pub mod duration;
pub mod election;
pub mod env;
pub mod evaluate;
pub mod findings;
pub mod lifecycle;
pub mod natsurl;
pub mod notices;
pub mod report;
pub mod rules;
pub mod status;
pub mod truthy;
pub mod validation;
pub mod workload;
