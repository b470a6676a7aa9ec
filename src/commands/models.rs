//! `dreamlens models list|fetch|verify|quantize`.

use std::process::ExitCode;

use anyhow::Context as _;
use dreamlens::{
    inference::SessionOptions,
    quantize::{Outcome, QuantizeError, QuantizeSettings},
    store::ModelStore,
};

use super::doctor::model_reports;
use crate::cli::ModelsAction;

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    action: ModelsAction,
) -> anyhow::Result<ExitCode> {
    match action {
        ModelsAction::List { json } => list(store, json),
        ModelsAction::Fetch { ids, allow_unverified } => fetch(store, ids, allow_unverified),
        ModelsAction::Verify { json } => verify(store, json),
        ModelsAction::Quantize {
            ids,
            calibration_frames,
            validation_frames,
            min_agreement,
            keep_slower,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&min_agreement),
                "--min-agreement must lie between 0 and 1"
            );
            let settings = QuantizeSettings {
                calibration_frames,
                validation_frames,
                min_agreement,
                keep_slower,
            };
            quantize(store, options, ids, &settings)
        }
    }
}

/// Makes (or reuses) the int8 variant of each model; models that are not on this device or
/// cannot be checked are skipped when none was named.
fn quantize(
    store: &ModelStore,
    options: &SessionOptions,
    ids: Vec<String>,
    settings: &QuantizeSettings,
) -> anyhow::Result<ExitCode> {
    let named = !ids.is_empty();
    let ids: Vec<String> =
        if named { ids } else { store.manifest().models.iter().map(|m| m.id.clone()).collect() };
    let mut failed = false;
    for id in ids {
        match dreamlens::quantize::quantize(store, &id, options, settings) {
            Ok(Outcome::Made(record)) => println!(
                "{id}: int8 variant made and pinned (sha256 {}): {} {:.4} (worst frame {:.4}) over {} frames; {:.1} ms against {:.1} ms at fp32",
                &record.sha256[..16],
                record.agreement.measure,
                record.agreement.mean,
                record.agreement.worst,
                record.agreement.frames,
                record.speed.variant_ms,
                record.speed.original_ms
            ),
            Ok(Outcome::Reused(record)) => println!(
                "{id}: int8 variant already made and checked ({} {:.4}); reused",
                record.agreement.measure, record.agreement.mean
            ),
            Ok(Outcome::TrainedInt8) => {
                println!(
                    "{id}: int8 as trained; its own file runs with int8 kernels, left as it is"
                )
            }
            Err(QuantizeError::Unsupported { .. } | QuantizeError::Store(_)) if !named => {}
            Err(error) => {
                eprintln!("error: {error}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn list(store: &ModelStore, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let entries: Vec<_> = store
            .manifest()
            .models
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id, "task": m.task, "name": m.name, "license": m.license,
                    "source": m.source,
                    "files": m.files.iter().map(|f| serde_json::json!({
                        "path": f.path, "sha256": f.sha256, "size": f.size, "urls": f.urls,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    for m in &store.manifest().models {
        let size: u64 = m.files.iter().filter_map(|f| f.size).sum();
        let size =
            if size > 0 { format!("{:.1} MB", size as f64 / 1e6) } else { "size unknown".into() };
        let pinned = if m.files.iter().all(|f| f.is_verified()) {
            "sha256 pinned"
        } else {
            "sha256 NOT pinned"
        };
        println!(
            "{:<26} {:<20} {:<13} {pinned:<17} {}",
            m.id,
            format!("{:?}", m.task),
            size,
            m.name
        );
        println!("{:<26} licence: {}", "", m.license);
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch(store: &ModelStore, ids: Vec<String>, allow_unverified: bool) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if ids.is_empty() {
        store.manifest().models.iter().filter(|m| m.default).map(|m| m.id.clone()).collect()
    } else {
        ids
    };
    let mut failed = 0;
    for id in &ids {
        match store.fetch(id, allow_unverified) {
            Ok(model) => {
                let note =
                    if model.verified { "sha256 ok" } else { "UNVERIFIED (hash pinned locally)" };
                println!("{id}: {} [{note}]", model.main_path().display());
            }
            Err(error) => {
                eprintln!("error: {error}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} models could not be fetched", ids.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &ModelStore, json: bool) -> anyhow::Result<ExitCode> {
    let reports = model_reports(store).context("checking model files")?;
    let bad = reports.iter().filter(|r| r.state == "bad-hash").count();
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for report in &reports {
            let pin = if report.verified { "" } else { " (sha256 not pinned in manifest)" };
            println!("{:<26} {}{pin}", report.id, report.state);
        }
        let present = reports.iter().filter(|r| r.state == "present").count();
        println!(
            "{present} present, {bad} with a wrong hash, {} missing or partial",
            reports.len() - present - bad
        );
    }
    Ok(if bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
