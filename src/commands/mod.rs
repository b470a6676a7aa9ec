//! One module per subcommand. Each returns the process exit code or an error with context.

mod analyze;
mod bench;
mod doctor;
mod models;
mod process;
mod regions;
mod restyle;
mod serve;

use std::process::ExitCode;

use dreamlens::{
    diffusion::AutoencoderChoice,
    inference::{
        SessionOptions,
        remote::{RemoteConfig, RemoteSelection},
    },
    restyle::EngineChoice,
    store::{Manifest, ModelStore},
};

use crate::cli::{Cli, Command, GlobalOptions, RemoteFallback};

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let store = ModelStore::from_env(Manifest::builtin()).with_precision(cli.global.precision);
    let options = session_options(&cli.global)?;
    let engine = engine_choice(&cli.global);
    let Some(command) = cli.command else {
        // Live, speed comes first: an installed TAESD replaces the VAE unless one was named.
        let mut engine = engine;
        if cli.global.taesd.is_none()
            && let Ok(taesd) = store.locate("taesd")
            && let Some(folder) = taesd.main_path().parent()
        {
            engine.autoencoder = AutoencoderChoice::Tiny(folder.to_owned());
        }
        let live = dreamlens::app::LiveOptions {
            input: cli.live.input,
            preset: cli.live.preset,
            window_size: cli.live.window_size,
            screenshot_to: cli.live.screenshot_to,
            quit_after_frames: cli.live.quit_after_frames,
            record_to: cli.live.record_to,
            model_every: cli.live.model_every,
            skip_similar: cli.live.skip_similar,
            restyle: cli.live.restyle,
            engine,
            segmentation_model: cli.live.segmentation_model,
            camera: dreamlens::capture::CameraRequest {
                index: cli.live.camera,
                size: cli.live.camera_size,
                fps: cli.live.camera_fps,
            },
            microphone: cli.live.microphone,
            summary_json: cli.live.summary_json,
        };
        dreamlens::app::run(store, options, live)?;
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Serve { action: crate::cli::ServeAction::Export(args) } => {
            serve::export(&store, &cli.global, &args)
        }
        Command::Doctor { json } => doctor::run(&store, options.remote.as_deref(), json),
        Command::Models { action } => models::run(&store, &options, action),
        Command::Analyze(args) => analyze::run(&store, &options, &args),
        Command::Process(args) => process::run(&store, &options, &engine, &args),
        Command::Restyle(args) => restyle::run(&store, &options, &engine, &args),
        Command::Presets { action: crate::cli::PresetsAction::List } => process::list_presets(),
        Command::Bench { what: crate::cli::BenchWhat::Models(args) } => {
            bench::models(&store, &options, &args)
        }
        Command::Bench { what: crate::cli::BenchWhat::Stages(args) } => {
            bench::stages(&store, &options, &args)
        }
        Command::Bench { what: crate::cli::BenchWhat::Regions(args) } => {
            regions::run(&store, &options, &args)
        }
        Command::Bench { what: crate::cli::BenchWhat::Diffusion(args) } => {
            bench::diffusion(&store, &options, &engine, &args)
        }
    }
}

fn session_options(global: &GlobalOptions) -> anyhow::Result<SessionOptions> {
    let mut options = SessionOptions {
        providers: global.providers.clone(),
        segmentation_passes: global.segmentation_passes,
        ..SessionOptions::default()
    };
    if let Some(threads) = global.threads {
        options.threads = threads.max(1);
    }
    if let Some(url) = global.remote.as_deref().filter(|u| !u.trim().is_empty()) {
        let mut remote = RemoteConfig::new(url)?;
        remote.models = RemoteSelection::parse(&global.remote_models);
        remote.prefix = global.remote_prefix.clone();
        remote.version = global.remote_version.clone();
        remote.token = RemoteConfig::token_from_env();
        remote.fallback_local = global.remote_fallback == RemoteFallback::Local;
        anyhow::ensure!(
            global.remote_timeout.is_finite() && global.remote_timeout > 0.0,
            "--remote-timeout must be a positive number of seconds"
        );
        remote.request_timeout = std::time::Duration::from_secs_f64(global.remote_timeout);
        options.remote = Some(std::sync::Arc::new(remote));
    }
    Ok(options)
}

fn engine_choice(global: &GlobalOptions) -> EngineChoice {
    EngineChoice {
        diffusion_dir: global.diffusion_model.clone(),
        autoencoder: global.taesd.clone().map_or(AutoencoderChoice::Full, AutoencoderChoice::Tiny),
        working_size: global.restyle_size,
    }
}

/// Says which execution provider each model really runs on, and every provider that failed.
fn report_providers<'a>(sessions: impl Iterator<Item = &'a dreamlens::inference::ModelSession>) {
    for session in sessions {
        let report = session.providers();
        eprintln!("{}: runs on {report}", session.model_id());
        for (provider, reason) in &report.failures {
            eprintln!(
                "warning: {}: execution provider {provider} failed: {reason}",
                session.model_id()
            );
        }
    }
}

/// `none` switches a stage off.
fn optional_model(id: &str) -> Option<String> {
    (!id.eq_ignore_ascii_case("none")).then(|| id.to_owned())
}

/// Creates the folder `path` (and its parents) that a command writes into; a file in its place
/// is named as such, not reported as the operating system's "File exists".
fn create_folder(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    // Rebuilt from its components, `out/` is `out`, which the file test sees (with the slash,
    // the operating system answers "not a directory" instead). A file further up counts too.
    let components: std::path::PathBuf = path.components().collect();
    if let Some(file) = components.ancestors().find(|a| a.is_file()) {
        anyhow::bail!(
            "{} is a file, not a folder: give a folder name, or move the file away",
            file.display()
        );
    }
    std::fs::create_dir_all(path)
        .with_context(|| format!("cannot create folder {}", path.display()))
}
