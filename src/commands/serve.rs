//! `dreamlens serve export`: a Triton model repository for the graphs a device sends to an
//! inference server. One folder per model, `config.pbtxt` plus `1/model.onnx`, ready for stock
//! Triton (`platform: "onnxruntime_onnx"`, GPU instances, optionally TensorRT), KServe's Triton
//! runtime, or the development launcher `scripts/serve_triton.py`.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use dreamlens::{
    inference::{ElementType, ModelSession, SessionOptions, TensorInfo},
    restyle,
    store::ModelStore,
};

use crate::cli::{GlobalOptions, ServeExportArgs};

/// One graph to export: its name on the server and its files (the ONNX graph first).
struct Export {
    name: String,
    graph: PathBuf,
    /// Files that must sit next to the graph (external weights).
    companions: Vec<PathBuf>,
}

pub fn export(
    store: &ModelStore,
    global: &GlobalOptions,
    args: &ServeExportArgs,
) -> anyhow::Result<ExitCode> {
    let prefix = &global.remote_prefix;
    let mut exports = Vec::new();
    let pipeline = global
        .diffusion_model
        .clone()
        // The graphs themselves are exported, so all of the pipeline must be here.
        .or_else(|| {
            restyle::installed_pipeline(store, &SessionOptions::default()).map(|(dir, _)| dir)
        });
    if let Some(dir) = &pipeline {
        for part in ["text_encoder", "unet", "vae_encoder", "vae_decoder"] {
            let folder = dir.join(part);
            let graph = folder.join("model.onnx");
            if !graph.is_file() {
                bail!(
                    "{} is not a diffusion pipeline folder: {} is missing",
                    dir.display(),
                    graph.display()
                );
            }
            exports.push(Export {
                name: format!("{prefix}{part}"),
                companions: companions(&folder, &graph)?,
                graph,
            });
        }
    }
    if let Some(taesd) = &global.taesd {
        for (part, file) in [("taesd_encoder", "encoder.onnx"), ("taesd_decoder", "decoder.onnx")] {
            let graph = taesd.join(file);
            if !graph.is_file() {
                bail!("--taesd {}: {} is missing", taesd.display(), graph.display());
            }
            exports.push(Export { name: format!("{prefix}{part}"), graph, companions: Vec::new() });
        }
    }
    for id in &args.ids {
        let model = store.locate(id).with_context(|| format!("model `{id}`"))?;
        let graph = model.main_path().to_owned();
        let companions = model.paths.iter().filter(|p| **p != graph).cloned().collect();
        exports.push(Export { name: format!("{prefix}{id}"), graph, companions });
    }
    if exports.is_empty() {
        bail!(
            "nothing to export: give model ids, or a diffusion pipeline with --diffusion-model (none is installed)"
        );
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    // The graphs are read with the CPU only to learn their inputs and outputs.
    let reading = SessionOptions { threads: 1, ..SessionOptions::default() };
    for export in &exports {
        let session = ModelSession::open_file(&export.graph, &export.name, &reading)?;
        let folder = args.output.join(&export.name);
        let version = folder.join("1");
        std::fs::create_dir_all(&version)
            .with_context(|| format!("cannot create {}", version.display()))?;
        place(&export.graph, &version.join("model.onnx"))?;
        for file in &export.companions {
            let name = file.file_name().context("a companion file has no name")?;
            place(file, &version.join(name))?;
        }
        let config = triton_config(&export.name, &session.inputs(), &session.outputs(), args)?;
        let config_path = folder.join("config.pbtxt");
        std::fs::write(&config_path, config)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        println!("{}: {}", export.name, export.graph.display());
    }
    eprintln!(
        "{} models written to {}; serve them with `tritonserver --model-repository {}`",
        exports.len(),
        args.output.display(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Files beside an Optimum part's graph that the graph may load (external weights).
fn companions(folder: &Path, graph: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(folder).with_context(|| format!("cannot read {}", folder.display()))?;
    Ok(entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p != graph)
        .filter(|p| p.file_name().is_some_and(|n| n != "config.json"))
        .collect())
}

/// A hard link where the file system allows (graphs are gigabytes), else a copy.
fn place(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        std::fs::remove_file(to).with_context(|| format!("cannot replace {}", to.display()))?;
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Triton's `config.pbtxt` for an ONNX graph, with its inputs and outputs spelled out.
fn triton_config(
    name: &str,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
    args: &ServeExportArgs,
) -> anyhow::Result<String> {
    let mut text = String::new();
    writeln!(text, "name: \"{name}\"")?;
    writeln!(text, "platform: \"onnxruntime_onnx\"")?;
    // The app sends whole tensors (batch dimension included), never server-side batches.
    writeln!(text, "max_batch_size: 0")?;
    for (section, tensors) in [("input", inputs), ("output", outputs)] {
        writeln!(text, "{section} [")?;
        for (index, tensor) in tensors.iter().enumerate() {
            let data_type = match tensor.element {
                ElementType::F32 => "TYPE_FP32",
                ElementType::F16 => "TYPE_FP16",
                ElementType::I64 => "TYPE_INT64",
                ElementType::I32 => "TYPE_INT32",
                ElementType::U8 => "TYPE_UINT8",
                ElementType::Other => {
                    bail!(
                        "model `{name}`: `{}` has an element type the app cannot send",
                        tensor.name
                    )
                }
            };
            let dims: Vec<String> = if tensor.shape.is_empty() {
                vec!["1".into()]
            } else {
                tensor
                    .shape
                    .iter()
                    .map(|d| if *d > 0 { d.to_string() } else { "-1".into() })
                    .collect()
            };
            let comma = if index + 1 < tensors.len() { "," } else { "" };
            writeln!(
                text,
                "  {{ name: \"{}\" data_type: {data_type} dims: [ {} ] }}{comma}",
                tensor.name,
                dims.join(", ")
            )?;
        }
        writeln!(text, "]")?;
    }
    let kind = if args.cpu { "KIND_CPU" } else { "KIND_GPU" };
    writeln!(text, "instance_group [ {{ kind: {kind} count: {} }} ]", args.instances.max(1))?;
    if args.tensorrt {
        writeln!(
            text,
            "optimization {{ execution_accelerators {{ gpu_execution_accelerator: [ {{ name: \"tensorrt\" parameters {{ key: \"precision_mode\" value: \"FP16\" }} parameters {{ key: \"max_workspace_size_bytes\" value: \"4294967296\" }} }} ] }} }}"
        )?;
    }
    Ok(text)
}
