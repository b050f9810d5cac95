//! The `keys` commands mounted the way the gateway's `main` mounts them, runnable on their own:
//! `cargo run -p mcp-gateway-auth --example keys -- --dir /tmp/keys list`.

use std::process::ExitCode;

use clap::Parser;
use mcp_gateway_auth::keys_cli::{self, KeysArgs};

#[derive(Parser)]
#[command(name = "mcp-gateway keys", about = "Manage the gateway's API keys")]
struct Cli {
    #[command(flatten)]
    keys: KeysArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match keys_cli::run(cli.keys, &mut std::io::stdout(), &mut std::io::stderr()) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("mcp-gateway keys: {e}");
            ExitCode::FAILURE
        }
    }
}
