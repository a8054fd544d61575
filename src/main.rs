//! The `natsguard` binary: `run` (the controller), `check` (offline CI gate), `crd`, `version`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "natsguard",
    version,
    about = "Keeps NATS client transport security from drifting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster in KUBECONFIG or the in-cluster config.
    Run(natsguard::controller::RunArgs),
    /// Evaluate rendered manifests offline (a CI gate).
    Check(natsguard::check::CheckArgs),
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; bad usage exits 2 as the contract says.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run(args) => natsguard::controller::main(args),
        Command::Check(args) => natsguard::check::main(args),
        Command::Crd => match natsguard::crd::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("natsguard: cannot render the CRDs: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("natsguard {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
