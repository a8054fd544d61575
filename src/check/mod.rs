//! `natsguard check`: the offline CI gate over rendered manifests (SPEC §6).

use std::process::ExitCode;

/// Arguments of `natsguard check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {}

pub fn main(_args: CheckArgs) -> ExitCode {
    eprintln!("natsguard check: not implemented yet");
    ExitCode::from(2)
}
