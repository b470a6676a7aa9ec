//! `dreamlens analyze`: class map, person mask, depth and a readable overlay per photo.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::{Context as _, bail};
use dreamlens::{
    export,
    inference::{AnalysisModels, SceneAnalyzer, SessionOptions},
    store::ModelStore,
    upsample::{self, JointBilateral},
};

use super::optional_model;
use crate::cli::AnalyzeArgs;

/// Image files `analyze` and `process` accept.
const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The images named by `input`: the file itself, or the folder's images sorted by name.
pub fn collect_images(input: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let is_image = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
    };
    if input.is_dir() {
        let mut images: Vec<PathBuf> = std::fs::read_dir(input)
            .with_context(|| format!("cannot read folder {}", input.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        images.sort();
        if images.is_empty() {
            bail!("{} holds no .jpg or .png images", input.display());
        }
        Ok(images)
    } else if input.is_file() {
        if !is_image(input) {
            bail!("{} is not a .jpg or .png image", input.display());
        }
        Ok(vec![input.to_owned()])
    } else {
        bail!("input {} does not exist", input.display())
    }
}

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    args: &AnalyzeArgs,
) -> anyhow::Result<ExitCode> {
    let images = collect_images(&args.input)?;
    let models = AnalysisModels {
        segmentation: optional_model(&args.segmentation),
        person: optional_model(&args.person),
        depth: optional_model(&args.depth),
    };
    let (mut analyzer, disabled) = SceneAnalyzer::open(store, &models, options)?;
    if analyzer.sessions().next().is_none() {
        let reasons: Vec<String> =
            disabled.iter().map(|s| format!("{}: {}", s.stage, s.reason)).collect();
        bail!(
            "no analysis model could be opened, so there is nothing to analyze:\n  {}\nFetch the models with `dreamlens models fetch` or point DREAMLENS_MODEL_DIRS at a folder holding them",
            reasons.join("\n  ")
        );
    }
    for stage in &disabled {
        eprintln!("note: {} maps are skipped: {}", stage.stage, stage.reason);
    }
    super::report_providers(analyzer.sessions());
    // Made only once something can be written into it.
    super::create_folder(&args.output)?;
    let mut failures = 0;
    for path in &images {
        let started = Instant::now();
        match analyze_one(&mut analyzer, path, &args.output) {
            Ok(written) => println!(
                "{}: {} files in {:.0} ms",
                path.display(),
                written,
                started.elapsed().as_secs_f64() * 1e3
            ),
            Err(error) => {
                eprintln!("error: {}: {error:#}", path.display());
                failures += 1;
            }
        }
    }
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn analyze_one(analyzer: &mut SceneAnalyzer, path: &Path, output: &Path) -> anyhow::Result<usize> {
    let photo = dreamlens::capture::photo::read_photo_logged(path)?;
    let analysis = analyzer.analyze(&photo)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let out = |suffix: &str| output.join(format!("{stem}.{suffix}.png"));
    let mut written = 0;
    let classes = analysis
        .classes
        .map(|classes| upsample::upsample_classes(&classes, &photo, JointBilateral::for_classes()));
    if let Some(classes) = &classes {
        export::write_classes(classes, &out("classes"))?;
        written += 1;
    }
    if let Some(person) = &analysis.person {
        export::write_person(
            &upsample::upsample_scalar(person, &photo, JointBilateral::for_maps()),
            &out("person"),
        )?;
        written += 1;
    }
    let depth =
        analysis.depth.map(|d| upsample::upsample_scalar(&d, &photo, JointBilateral::for_maps()));
    if let Some(depth) = &depth {
        export::write_depth(depth, &out("depth"))?;
        written += 1;
    }
    let overlay = export::overlay(&photo, classes.as_ref(), depth.as_ref());
    overlay
        .save(out("overlay"))
        .with_context(|| format!("cannot write {}", out("overlay").display()))?;
    Ok(written + 1)
}
