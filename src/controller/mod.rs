//! `natsguard run`: the controller (the thin I/O shell around the pure core).

use std::process::ExitCode;

/// Arguments of `natsguard run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {}

pub fn main(_args: RunArgs) -> ExitCode {
    eprintln!("natsguard run: not implemented yet");
    ExitCode::FAILURE
}
