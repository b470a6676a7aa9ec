//! `dreamlens models list|fetch|verify`.

use std::process::ExitCode;

use anyhow::Context as _;
use dreamlens::store::ModelStore;

use super::doctor::model_reports;
use crate::cli::ModelsAction;

pub fn run(store: &ModelStore, action: ModelsAction) -> anyhow::Result<ExitCode> {
    match action {
        ModelsAction::List { json } => list(store, json),
        ModelsAction::Fetch { ids, allow_unverified } => fetch(store, ids, allow_unverified),
        ModelsAction::Verify { json } => verify(store, json),
    }
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
        store
            .manifest()
            .models
            .iter()
            .filter(|m| allow_unverified || m.files.iter().all(|f| f.is_verified()))
            .map(|m| m.id.clone())
            .collect()
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
