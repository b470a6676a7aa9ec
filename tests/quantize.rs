//! `dreamlens models quantize` end to end: ONNX Runtime's real static quantizer (installed from
//! PyPI, every wheel pinned by sha256) on the real models, calibrated on the demo room. A variant
//! is made, checked against its original and pinned; the next run reuses it; commands then run
//! it and say so; a variant whose bytes changed is refused; a variant short of the agreement
//! asked for is refused and nothing is kept; a style model is calibrated with its style input
//! and checked on pictures; and the int8 segmentation still matches Python onnxruntime's fp32
//! output on the shared photos.

mod common;

use std::{path::Path, process::Command};

use common::*;
use dreamlens::{
    inference::{ModelSession, SegmentationPasses, SessionOptions, analysis::run_segmentation},
    store::{Manifest, ModelStore, Precision},
};

fn dreamlens(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dreamlens"));
    command.env("DREAMLENS_MODEL_DIRS", models_dir()).env("DREAMLENS_CACHE_DIR", cache);
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn record(cache: &Path, id: &str) -> serde_json::Value {
    let path = cache.join("variants").join(id).join("int8.json");
    serde_json::from_slice(&std::fs::read(&path).expect("record written")).expect("json")
}

#[test]
fn a_variant_is_made_checked_pinned_reused_and_then_used() {
    let cache = tempfile::tempdir().expect("temp");
    let id = "selfie-segmentation";
    // Kept whatever its speed here: this test is about making, pinning and using a variant.
    let (ok, stdout, stderr) =
        run(dreamlens(cache.path()).args(["models", "quantize", id, "--keep-slower"]));
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("int8 variant made and pinned"), "{stdout}");

    let variant = cache.path().join("variants").join(id).join("int8.onnx");
    let record = record(cache.path(), id);
    let (sha256, _) = dreamlens::store::sha256_file(&variant).expect("hash");
    assert_eq!(record["sha256"], sha256.as_str(), "the record pins the file's bytes");
    let manifest = Manifest::builtin();
    let original = manifest.get(id).expect("in the manifest").files[0].sha256.clone();
    assert_eq!(record["source_sha256"].as_str(), original.as_deref());
    assert_eq!(record["tools"]["onnxruntime"], "1.31.1");
    assert_eq!(record["calibration"]["frames"], 8);
    // Measured 0.979 here. The variant computes in signed int8 (s8s8), which AVX2 and VNNI
    // kernels compute alike (the segmentation variant gives identical class maps under
    // `qemu-x86_64 -cpu Haswell`), and fp32 calibration differs between them only by rounding,
    // far below the 0.009 margin.
    assert!(record["agreement"]["mean"].as_f64().expect("mean") >= 0.97, "{record}");
    let original_size = std::fs::metadata(models_dir().join("obs-bgr/selfie_segmentation.onnx"))
        .expect("original")
        .len();
    assert!(
        std::fs::metadata(&variant).expect("variant").len() < original_size,
        "int8 weights take less room than fp32"
    );

    // Made once: the next run finds it checked and leaves it alone.
    let modified = std::fs::metadata(&variant).and_then(|m| m.modified()).expect("mtime");
    let (ok, stdout, _) =
        run(dreamlens(cache.path()).args(["models", "quantize", id, "--keep-slower"]));
    assert!(ok && stdout.contains("reused"), "{stdout}");
    assert_eq!(std::fs::metadata(&variant).and_then(|m| m.modified()).expect("mtime"), modified);

    // Commands run it, and say so.
    let photos = tempfile::tempdir().expect("temp");
    let photo = images_dir().join("ADE_val_00000001.jpg");
    let analyze = |precision: Option<&str>| {
        let mut command = dreamlens(cache.path());
        command.args(["analyze", "--segmentation", "none", "--depth", "none", "--input"]);
        command.arg(&photo).arg("--output").arg(photos.path());
        if let Some(precision) = precision {
            command.args(["--precision", precision]);
        }
        run(&mut command)
    };
    let (ok, _, stderr) = analyze(None);
    assert!(ok && stderr.contains("selfie-segmentation: runs on cpu, int8"), "{stderr}");
    let (ok, _, stderr) = analyze(Some("fp32"));
    assert!(ok && stderr.contains("selfie-segmentation: runs on cpu, fp32"), "{stderr}");

    // Changed bytes: refused when int8 is required, and not used otherwise.
    let mut bytes = std::fs::read(&variant).expect("variant");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&variant, bytes).expect("tampered");
    let (ok, _, stderr) = analyze(Some("int8"));
    assert!(!ok && stderr.contains("sha256") && stderr.contains("int8.onnx"), "{stderr}");
    let (ok, _, stderr) = analyze(None);
    assert!(ok && stderr.contains("selfie-segmentation: runs on cpu, fp32"), "{stderr}");
}

#[test]
fn a_variant_short_of_the_agreement_asked_for_is_refused_and_not_kept() {
    let cache = tempfile::tempdir().expect("temp");
    let (ok, _, stderr) = run(dreamlens(cache.path()).args([
        "models",
        "quantize",
        "tcmonodepth-small",
        "--min-agreement",
        "1",
    ]));
    assert!(!ok, "int8 never equals fp32 exactly");
    assert!(
        stderr.contains("tcmonodepth-small") && stderr.contains("was refused"),
        "the message names the model and the measure: {stderr}"
    );
    assert!(!cache.path().join("variants/tcmonodepth-small/int8.onnx").exists());
    // A model without one, asked for at int8, is an error that says how to make one.
    let (ok, _, stderr) = run(dreamlens(cache.path()).args([
        "analyze",
        "--precision",
        "int8",
        "--segmentation",
        "none",
        "--person",
        "none",
        "--input",
        images_dir().join("ADE_val_00000001.jpg").to_str().expect("utf-8"),
        "--output",
        cache.path().join("maps").to_str().expect("utf-8"),
    ]));
    assert!(!ok && stderr.contains("dreamlens models quantize tcmonodepth-small"), "{stderr}");
}

/// The style model takes a style blend besides the picture: calibration feeds one style per
/// frame, the check compares pictures. Measured here: 0.961 mean, 0.923 worst frame, so the
/// default 0.97 refuses it and a lower bar asked for keeps it. On other CPUs the agreement moves
/// by rounding only (signed int8 kernels compute alike), far inside 0.961 against 0.93 and 0.97.
#[test]
fn a_style_model_is_calibrated_on_its_styles_and_checked_on_pictures() {
    let cache = tempfile::tempdir().expect("temp");
    let id = "multistyle26";
    let (ok, stdout, stderr) =
        run(dreamlens(cache.path()).args(["models", "quantize", id, "--keep-slower"]));
    assert!(!ok && stderr.contains("refused") && stderr.contains("pixel difference"), "{stderr}");
    assert!(!cache.path().join("variants").join(id).join("int8.onnx").exists(), "{stdout}");
    let (ok, stdout, stderr) = run(dreamlens(cache.path()).args([
        "models",
        "quantize",
        id,
        "--keep-slower",
        "--min-agreement",
        "0.93",
    ]));
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(record(cache.path(), id)["agreement"]["measure"], "1 - mean |pixel difference|");
    let painted = cache.path().join("painted.png");
    let (ok, _, stderr) = run(dreamlens(cache.path()).args([
        "--precision",
        "int8",
        "process",
        "--preset",
        "painting",
        "--input",
        images_dir().join("ADE_val_00000001.jpg").to_str().expect("utf-8"),
        "--output",
        painted.to_str().expect("utf-8"),
    ]));
    assert!(ok && stderr.contains(&format!("{id}: runs on cpu, int8")), "{stderr}");
    assert!(painted.is_file());
}

/// The int8 segmentation, calibrated on the demo room and 1/f noise (never on photos), against
/// Python onnxruntime's fp32 class maps of the four shared photos. Measured here: 0.962, 0.948,
/// 0.985, 0.992 (mean 0.972); Python's static quantization calibrated on real photos reached
/// 0.981 on average, 0.942 at worst. The tolerance (mean 0.95, each 0.92) is what quantization
/// itself may change. It holds across CPUs: the variant runs signed int8 activations and weights
/// (s8s8), which has none of the u8s8 saturation that makes AVX2 and VNNI kernels differ, and
/// Python onnxruntime running this variant under `qemu-x86_64 -cpu Haswell` (AVX2 only) gave
/// class maps identical to this AVX-512 VNNI machine's on all four photos.
#[test]
fn int8_segmentation_agrees_with_the_fp32_reference_on_real_photos() {
    let cache = tempfile::tempdir().expect("temp");
    let id = "ade20k-deeplabv3-mnv2";
    let (ok, stdout, stderr) =
        run(dreamlens(cache.path()).args(["models", "quantize", id, "--keep-slower"]));
    assert!(ok, "{stdout}\n{stderr}");
    let store = ModelStore::new(Manifest::builtin(), cache.path().to_owned(), vec![models_dir()])
        .with_precision(Some(Precision::Int8));
    let model = store.locate(id).expect("the variant");
    assert_eq!(model.precision, Precision::Int8);
    let options = SessionOptions {
        providers: vec![dreamlens::inference::Provider::Cpu],
        ..SessionOptions::default()
    };
    let mut session = ModelSession::open(&model, &options).expect("opens");
    let mut agreements = Vec::new();
    for name in ["ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003", "ADE_val_00000004"] {
        let classes =
            run_segmentation(&mut session, &photo(name), SegmentationPasses::Once).expect("runs");
        let reference =
            image::open(golden(&format!("{id}.{name}.png"))).expect("golden").to_luma8();
        let same = classes.classes.iter().zip(reference.as_raw()).filter(|(a, b)| a == b).count();
        agreements.push(same as f64 / reference.as_raw().len() as f64);
    }
    let mean = agreements.iter().sum::<f64>() / agreements.len() as f64;
    eprintln!("int8 class agreement with fp32 on the photos: {agreements:?}, mean {mean:.4}");
    assert!(mean >= 0.95, "{agreements:?}");
    assert!(agreements.iter().all(|a| *a >= 0.92), "{agreements:?}");
}
