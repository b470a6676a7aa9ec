//! The `dreamlens` executable: parses the command line and runs one command.

mod cli;
mod commands;

use clap::Parser;

fn main() -> std::process::ExitCode {
    restart_with_runtime_dir();
    let cli = cli::Cli::parse();
    init_logging(cli.global.verbose);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where the session has no runtime folder, starts this program again in place (the same
/// process, arguments and environment) with a private one: graphics drivers print an error on
/// every start without it, and the environment cannot be changed safely once the program runs.
/// A failed restart leaves only that noise, so it is ignored.
fn restart_with_runtime_dir() {
    #[cfg(unix)]
    if let Some(dir) = dreamlens::platform::missing_runtime_dir()
        && let Ok(program) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt as _;
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(program);
        if let Some(name) = args.next() {
            command.arg0(name);
        }
        let _ = command.args(args).env("XDG_RUNTIME_DIR", dir).exec();
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},ort=error,winit=error"))
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
