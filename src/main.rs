//! The `epoxy` binary: parse the command line, set up logging, run.

use clap::Parser;
use epoxy::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EPOXY_LOG")
                .unwrap_or_else(|_| "epoxy=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(epoxy::server::serve(*args))
        }
        Command::Provision(args) => {
            let runtime = epoxy::runtime::provision::provision(&args)?;
            println!("{}", runtime.python.display());
            Ok(())
        }
    }
}
