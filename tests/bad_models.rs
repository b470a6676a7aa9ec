//! Broken model files give an error that names the model and says what to do, never a panic.

mod common;

use std::path::Path;

use common::*;
use dreamlens::{
    inference::{ContractMismatch, InferenceError, ModelSession, SessionOptions},
    store::{Manifest, ModelStore},
};

/// A store whose only model `broken` is the selfie model's contract over `bytes`, with the
/// manifest input size set to `size`.
fn broken_store(mirror: &Path, bytes: &[u8], size: u32) -> ModelStore {
    std::fs::create_dir_all(mirror.join("broken")).expect("mkdir");
    std::fs::write(mirror.join("broken/model.onnx"), bytes).expect("write");
    let text = format!(
        r#"
[[model]]
id = "broken"
task = "person-segmentation"
name = "Broken"
license = "MIT"
source = "test"
[[model.files]]
path = "broken/model.onnx"
[model.contract.input]
name = "input_1:0"
layout = "nhwc"
width = {size}
height = {size}
mean = [0.0, 0.0, 0.0]
std = [255.0, 255.0, 255.0]
[model.contract.output]
name = "activation_10"
kind = "probability"
layout = "nhwc"
channel = 0
"#
    );
    let manifest = Manifest::parse(&text, "test").expect("manifest");
    ModelStore::new(manifest, mirror.join("cache"), vec![mirror.to_owned()])
}

fn open_error(bytes: &[u8], size: u32) -> InferenceError {
    let dir = tempfile::tempdir().expect("temp");
    let store = broken_store(dir.path(), bytes, size);
    let model = store.locate("broken").expect("present");
    ModelSession::open(&model, &SessionOptions::default()).expect_err("must not open")
}

fn selfie_bytes() -> Vec<u8> {
    std::fs::read(models_dir().join("obs-bgr/selfie_segmentation.onnx")).expect("real model")
}

#[test]
fn a_truncated_model_is_a_load_error_naming_the_model() {
    let bytes = selfie_bytes();
    let error = open_error(&bytes[..bytes.len() / 2], 256);
    assert!(matches!(error, InferenceError::Load { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("`broken`") && text.contains("models fetch broken"), "{text}");
}

#[test]
fn a_file_that_is_not_onnx_is_a_load_error() {
    let error = open_error(b"<html>404 not found</html>", 256);
    assert!(matches!(error, InferenceError::Load { .. }), "{error}");
    assert!(error.to_string().contains("cannot load"), "{error}");
}

#[test]
fn a_model_with_another_input_shape_breaks_the_contract() {
    let error = open_error(&selfie_bytes(), 512);
    let InferenceError::Contract { cause, .. } = &error else { panic!("{error}") };
    assert!(
        matches!(
            **cause,
            ContractMismatch::InputSize { axis: "height", found: 256, expected: 512, .. }
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("height is 256, the manifest says 512"), "{text}");
}

#[test]
fn the_real_model_with_its_real_contract_opens() {
    let dir = tempfile::tempdir().expect("temp");
    let store = broken_store(dir.path(), &selfie_bytes(), 256);
    let model = store.locate("broken").expect("present");
    let cpu = SessionOptions {
        providers: vec![dreamlens::inference::Provider::Cpu],
        ..SessionOptions::default()
    };
    let session = ModelSession::open(&model, &cpu).expect("opens");
    assert_eq!(session.providers().active, dreamlens::inference::Provider::Cpu);
}

#[test]
fn requesting_only_an_accelerator_that_is_absent_is_an_error_not_a_cpu_fallback() {
    let dir = tempfile::tempdir().expect("temp");
    let store = broken_store(dir.path(), &selfie_bytes(), 256);
    let model = store.locate("broken").expect("present");
    // Whichever accelerator this ONNX Runtime build lacks (a GPU build has CUDA, but no build
    // has every one of these).
    use dreamlens::inference::Provider;
    let absent =
        [Provider::Coreml, Provider::Nnapi, Provider::Directml, Provider::Qnn, Provider::Cuda]
            .into_iter()
            .find(|p| !p.is_compiled_in())
            .expect("this ONNX Runtime build lacks at least one of these accelerators");
    let options = SessionOptions { providers: vec![absent], ..SessionOptions::default() };
    let error = ModelSession::open(&model, &options).expect_err("no silent fallback");
    let text = error.to_string();
    assert!(text.contains(absent.name()) && text.contains("add `cpu`"), "{text}");

    let with_cpu =
        SessionOptions { providers: vec![absent, Provider::Cpu], ..SessionOptions::default() };
    let session = ModelSession::open(&model, &with_cpu).expect("cpu allowed");
    let report = session.providers();
    assert!(report.fell_back_to_cpu());
    assert_eq!(report.failures.len(), 1, "{report:?}");
}
