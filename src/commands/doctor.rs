//! `dreamlens doctor`: what this machine offers the app, stated plainly.

use std::process::ExitCode;

use dreamlens::{
    capture,
    inference::{
        providers,
        remote::{self, RemoteConfig, RemoteModel},
        runtime,
    },
    render,
    store::{FileState, ModelStore},
};
use serde::Serialize;

#[derive(Serialize)]
struct Report {
    onnxruntime: Result<runtime::OrtLibrary, String>,
    providers_compiled_in: Vec<String>,
    cache_dir: String,
    mirrors: Vec<String>,
    models: Vec<ModelReport>,
    gpu_adapters: Vec<render::AdapterSummary>,
    cameras: Vec<capture::CameraSummary>,
    microphones: Vec<String>,
    remote: Option<RemoteReport>,
}

/// The configured inference server and each model the app would send to it.
#[derive(Serialize)]
struct RemoteReport {
    server: remote::ServerReport,
    /// Per model id: its name on the server and whether it is served as needed.
    models: Vec<(String, String, Result<String, String>)>,
}

fn remote_report(store: &ModelStore, config: &RemoteConfig) -> RemoteReport {
    let server = remote::check_server(config);
    let ids = remote::DIFFUSION_PARTS
        .iter()
        .map(|id| id.to_string())
        .chain(store.manifest().models.iter().map(|m| m.id.clone()))
        .filter(|id| config.serves(id));
    let models = ids
        .map(|id| {
            let state = RemoteModel::open(config, &id)
                .map(|model| {
                    let metadata = model.metadata();
                    format!("{} inputs, {} outputs", metadata.inputs.len(), metadata.outputs.len())
                })
                .map_err(|e| e.to_string());
            (config.remote_name(&id), id, state)
        })
        .collect();
    RemoteReport { server, models }
}

#[derive(Serialize)]
pub(super) struct ModelReport {
    pub id: String,
    pub task: dreamlens::store::Task,
    /// `present`, `missing`, `bad-hash`, or `partial` (some files of several missing).
    pub state: &'static str,
    pub verified: bool,
    pub files: Vec<(String, FileState)>,
}

/// Summarises every model's files.
pub(super) fn model_reports(store: &ModelStore) -> anyhow::Result<Vec<ModelReport>> {
    let mut reports = Vec::new();
    for entry in &store.manifest().models {
        let files = store.file_states(&entry.id)?;
        let bad = files.iter().any(|(_, s)| matches!(s, FileState::BadHash { .. }));
        let present = files.iter().filter(|(_, s)| matches!(s, FileState::Present { .. })).count();
        let state = if bad {
            "bad-hash"
        } else if present == files.len() {
            "present"
        } else if present == 0 {
            "missing"
        } else {
            "partial"
        };
        let verified = entry.files.iter().all(|f| f.is_verified());
        reports.push(ModelReport {
            id: entry.id.clone(),
            task: entry.task,
            state,
            verified,
            files: files.into_iter().map(|(f, s)| (f.path, s)).collect(),
        });
    }
    Ok(reports)
}

pub fn run(
    store: &ModelStore,
    remote: Option<&RemoteConfig>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let onnxruntime = runtime::load().map(|r| r.library.clone()).map_err(|e| e.to_string());
    let providers_compiled_in = if onnxruntime.is_ok() {
        providers::compiled_in().iter().map(|p| p.name().to_owned()).collect()
    } else {
        Vec::new()
    };
    let report = Report {
        onnxruntime,
        providers_compiled_in,
        cache_dir: store.cache_dir().display().to_string(),
        mirrors: store.mirrors().iter().map(|m| m.display().to_string()).collect(),
        models: model_reports(store)?,
        gpu_adapters: render::list_adapters(),
        cameras: capture::Cameras::list(&capture::DesktopCameras),
        microphones: capture::microphone::list(),
        remote: remote.map(|config| remote_report(store, config)),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let remote_ok = report.remote.as_ref().is_none_or(|r| r.server.ready.is_ok());
    Ok(if report.onnxruntime.is_ok() && remote_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_report(report: &Report) {
    println!("ONNX Runtime");
    match &report.onnxruntime {
        Ok(lib) => println!("  {} at {} ({:?})", lib.version, lib.path.display(), lib.source),
        Err(e) => println!("  NOT AVAILABLE: {e}"),
    }
    println!(
        "Execution providers in this ONNX Runtime: {}",
        report.providers_compiled_in.join(", ")
    );
    if report.providers_compiled_in.iter().all(|p| p == "cpu") {
        println!(
            "  only the CPU: models run on the CPU (install a GPU/NPU build of ONNX Runtime and set ORT_DYLIB_PATH to use an accelerator)"
        );
    }
    println!(
        "Models (cache {}; mirrors: {})",
        report.cache_dir,
        if report.mirrors.is_empty() { "none".into() } else { report.mirrors.join(", ") }
    );
    for model in &report.models {
        let note = if model.verified { "" } else { " [sha256 not pinned in manifest]" };
        println!("  {:<26} {:<20} {}{note}", model.id, format!("{:?}", model.task), model.state);
        for (path, state) in &model.files {
            if let FileState::BadHash { path: p, expected, actual } = state {
                println!("      {path}: {} has sha256 {actual}, expected {expected}", p.display());
            }
        }
    }
    println!("GPU adapters (wgpu)");
    if report.gpu_adapters.is_empty() {
        println!(
            "  none found: the compositor cannot run (install a Vulkan, Metal, DX12 or GL driver)"
        );
    }
    for adapter in &report.gpu_adapters {
        let cpu = if adapter.is_cpu { " (software, renders on the CPU)" } else { "" };
        println!(
            "  {} [{} {}] {}{cpu}",
            adapter.name, adapter.backend, adapter.device_type, adapter.driver
        );
    }
    println!("Cameras");
    if report.cameras.is_empty() {
        println!("  none found: the live app shows the built-in demo scene");
    }
    for camera in &report.cameras {
        println!("  {} ({})", camera.name, camera.device);
    }
    if let Some(remote) = &report.remote {
        let server = &remote.server;
        println!("Inference server {}", server.url);
        match &server.ready {
            Ok(()) => println!(
                "  ready{}",
                server.server.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            ),
            Err(e) => println!("  NOT READY: {e}"),
        }
        match &server.models {
            Ok(names) => println!("  serves: {}", names.join(", ")),
            Err(e) => println!("  cannot list its models: {e}"),
        }
        for (name, id, state) in &remote.models {
            match state {
                Ok(what) => println!("  {id:<26} as `{name}`: {what}"),
                Err(e) => println!("  {id:<26} as `{name}`: NOT USABLE: {e}"),
            }
        }
    }
    println!("Audio inputs (for the sound of live recordings)");
    if report.microphones.is_empty() {
        println!("  none found: live recordings are video-only");
    }
    for name in &report.microphones {
        println!("  {name}");
    }
}
