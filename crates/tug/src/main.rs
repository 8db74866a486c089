//! `tug`: parse the command line, run the command, turn its result into an exit code.

mod agent;
mod cli;
mod server;

use clap::Parser;

// glibc malloc took a fifth of the API server's CPU under load (its arena locks, consolidation
// and free-list walks); mimalloc's per-thread pages serve the same allocations for less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // kube-rs logs every failed request at ERROR; callers report failures with context,
            // and thousands of simulated nodes would otherwise flood the log when the server is down.
            tracing_subscriber::EnvFilter::try_from_env("TUG_LOG")
                .unwrap_or_else(|_| "info,kube_client=off".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
