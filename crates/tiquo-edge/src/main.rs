//! The `tiquo-edge` binary: parse the command line, set up logging, hand over
//! to the library. Errors end up as one line on stderr and exit code 1.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tiquo_edge::cli::{Cli, Command, TokenCommand};
use tiquo_edge::config::Config;
use tiquo_edge::{Application, admin};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(Some(output)) => {
            // A reader that stops early (`| head`) is not an error of ours;
            // println! would panic on the closed pipe.
            let mut stdout = std::io::stdout().lock();
            match writeln!(stdout, "{output}").and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the output: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<Option<String>> {
    match command {
        Command::Serve(args) => serve(Config::resolve(args.config)?).await.map(|()| None),
        Command::Migrate(args) => admin::migrate(args.config).await.map(Some),
        Command::Customers(command) => admin::customers(command).await.map(Some),
        Command::Token(TokenCommand::Issue(args)) => admin::issue_token(args).await.map(Some),
        Command::Gc(args) => admin::gc(args.config).await.map(Some),
        Command::Keys(command) => admin::keys(command).await.map(Some),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let kind = config.database_kind;
    let app = Application::build(config, listener).await?;
    tracing::info!(
        listen = %app.address(),
        database = kind.name(),
        storage = %app.storage(),
        issuer = app.issuer(),
        public_url = app.public_url(),
        "tiquo-edge listening"
    );
    app.run_until(shutdown_signal()).await?;
    tracing::info!("tiquo-edge stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}
