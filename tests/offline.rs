//! Nothing leaves the device: `process`, `analyze`, `restyle` and the live window run under
//! strace, and no internet socket is ever connected (X11 and other local sockets are fine).
//! Only `models fetch`, the one-time ONNX Runtime install and an explicit `--remote` server
//! may use the network; the install is done before tracing starts.

mod common;

use std::{path::Path, process::Command};

use common::*;

/// Runs the app with `args` under `strace -f -e trace=connect` and returns every connect call
/// it (or any child) made.
fn connects(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let trace = dir.join("trace.txt");
    let output = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_dreamlens"))
        .args(args)
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("DREAMLENS_CACHE_DIR", dir.join("cache"))
        .env_remove("DREAMLENS_REMOTE")
        .envs(envs.iter().copied())
        .output()
        .expect("strace is installed (scripts/install-deps.sh)");
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&trace).expect("trace written");
    text.lines().map(str::to_owned).collect()
}

/// The connect calls to internet addresses (AF_INET, AF_INET6).
fn internet(calls: &[String]) -> Vec<&String> {
    calls.iter().filter(|l| l.contains("sa_family=AF_INET")).collect()
}

#[test]
fn no_command_opens_an_internet_connection() {
    let dir = tempfile::tempdir().expect("temp");
    // ONNX Runtime is installed on first use (that one step uses PyPI): do it untraced.
    let status = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .args(["doctor"])
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("DREAMLENS_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("runs");
    assert!(status.status.success());
    let photo = images_dir().join("ADE_val_00000001.jpg");
    let photo = photo.to_str().expect("utf8");
    let out = |name: &str| dir.path().join(name).to_str().expect("utf8").to_owned();
    let tiny = root().join("tests/data/tiny-sd");
    let tiny = tiny.to_str().expect("utf8");
    let runs: Vec<Vec<String>> = vec![
        vec!["process", "--input", "demo", "--demo-size", "160x120", "--max-frames", "3"]
            .into_iter()
            .map(String::from)
            .chain(["--output".into(), out("demo.mp4")])
            .collect(),
        vec!["analyze".into(), "--input".into(), photo.into(), "--output".into(), out("maps")],
        vec![
            "restyle".into(),
            "--input".into(),
            photo.into(),
            "--prompt".into(),
            "a teal room".into(),
            "--diffusion-model".into(),
            tiny.into(),
            "--restyle-size".into(),
            "64".into(),
            "--output".into(),
            out("restyled.png"),
        ],
    ];
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let calls = connects(dir.path(), &[], &args);
        let internet = internet(&calls);
        assert!(internet.is_empty(), "{} connected to the internet: {internet:#?}", args[0]);
    }
    // The live window on a virtual display.
    let server = xvfb();
    let calls = connects(
        dir.path(),
        &[("DISPLAY", &server.display), ("XDG_CONFIG_HOME", &out("config"))],
        &["--input", photo, "--preset", "toon", "--quit-after-frames", "10"],
    );
    drop(server);
    // The trace does see connections: the window's own, to the X server's local socket.
    assert!(calls.iter().any(|l| l.contains("AF_UNIX") && l.contains("X11")), "{calls:#?}");
    let internet = internet(&calls);
    assert!(internet.is_empty(), "the live window connected to the internet: {internet:#?}");
}
