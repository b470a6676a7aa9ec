//! Hybrid mode end to end with the real binary: models on a real Triton server on 127.0.0.1
//! (see `common::triton`), and a fake server for the answers Triton never gives (HTTP 500, a
//! body cut short, a page that is not the protocol). Every failure is a clear error naming the
//! server and the model, or the fallback the user chose; nothing panics and nothing written is
//! lost.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use common::*;

fn dreamlens(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dreamlens"));
    command
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("DREAMLENS_CACHE_DIR", cache)
        .env_remove("DREAMLENS_REMOTE")
        .env_remove("DREAMLENS_DIFFUSION_MODEL");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn tiny() -> String {
    root().join("tests/data/tiny-sd").to_str().expect("utf8").to_owned()
}

fn photo_path() -> PathBuf {
    images_dir().join("ADE_val_00000001.jpg")
}

fn restyle(cache: &Path, remote: &[&str], output: &Path) -> Output {
    dreamlens(cache)
        .args(remote)
        .args(["restyle", "--input"])
        .arg(photo_path())
        .args(["--prompt", "teal walls", "--diffusion-model", &tiny(), "--restyle-size", "64"])
        .arg("--output")
        .arg(output)
        .output()
        .expect("runs")
}

#[test]
fn a_remote_restyle_is_the_local_one_and_says_where_it_ran() {
    let server = triton::shared();
    let (cache, work) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let local = work.path().join("local.png");
    let remote = work.path().join("remote.png");
    let output = restyle(cache.path(), &[], &local);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = restyle(cache.path(), &["--remote", &server.url], &remote);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    for part in ["text_encoder", "unet", "vae_encoder", "vae_decoder"] {
        let line = format!("{part}: runs on remote ({})", server.url);
        assert!(log.contains(&line), "{line} missing from:\n{log}");
    }
    // Same graphs, same ONNX Runtime, same inputs: the same picture. Allow the last bit of a
    // float for differing thread counts; measured identical.
    let (a, b) =
        (image::open(&local).expect("png").to_rgb8(), image::open(&remote).expect("png").to_rgb8());
    let worst = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max();
    assert!(worst.is_some_and(|w| w <= 1), "remote differs from local by {worst:?} levels");
}

#[test]
fn a_remote_analysis_gives_the_local_class_map() {
    let server = triton::shared();
    let (cache, work) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let analyze = |remote: &[&str], out: &Path| {
        // The server's graph ends in its own head (class ids), which one reading gives.
        let output = dreamlens(cache.path())
            .args(remote)
            .args(["--segmentation-passes", "once"])
            .args(["analyze", "--segmentation", "ade20k-deeplabv3-mnv2"])
            .args(["--person", "none", "--depth", "none", "--input"])
            .arg(photo_path())
            .arg("--output")
            .arg(out)
            .output()
            .expect("runs");
        assert!(output.status.success(), "{}", stderr(&output));
        (stderr(&output), image::open(out.join("ADE_val_00000001.classes.png")).expect("map"))
    };
    let (_, local) = analyze(&[], &work.path().join("local"));
    let remote_args = ["--remote", server.url.as_str(), "--remote-models", "ade20k-deeplabv3-mnv2"];
    let (log, remote) = analyze(&remote_args, &work.path().join("remote"));
    assert!(log.contains("ade20k-deeplabv3-mnv2: runs on remote"), "{log}");
    assert_eq!(local.to_rgb8().as_raw(), remote.to_rgb8().as_raw(), "class maps differ");
}

#[test]
fn start_up_errors_name_the_server_and_the_model() {
    let server = triton::shared();
    let (cache, work) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let out = work.path().join("x.png");
    // Nothing listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    let down = format!("http://{closed}");
    let output = restyle(cache.path(), &["--remote", &down], &out);
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(
        log.contains(&down) && log.contains("unreachable") && log.contains("text_encoder"),
        "{log}"
    );
    // A model the server does not have.
    let output =
        restyle(cache.path(), &["--remote", &server.url, "--remote-prefix", "nope-"], &out);
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(log.contains("nope-text_encoder") && log.contains("404"), "{log}");
    // A graph that does not fit the model's contract: refused at start-up, by name.
    let output = dreamlens(cache.path())
        .args(["--remote", &server.url, "--remote-prefix", "wrong-"])
        .args(["--remote-models", "selfie-segmentation", "analyze", "--input"])
        .arg(photo_path())
        .arg("--output")
        .arg(work.path().join("maps"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(
        log.contains("selfie-segmentation")
            && log.contains("contract")
            && log.contains("input_1:0"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(!out.exists() && !work.path().join("maps").exists(), "nothing written");
}

/// What the fake server answers to an infer request.
#[derive(Clone, Copy)]
enum Answer {
    ServerError,
    CutShort,
    NotTheProtocol,
}

/// A server that is ready, describes `ade20k-deeplabv3-mnv2` as the real one does, and answers
/// every infer request with `answer`.
fn fake_server(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header.trim().is_empty() {
                            break;
                        }
                        let lower = header.to_ascii_lowercase();
                        if let Some(value) = lower.strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = |status: &str, body: &str| {
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let response = if request_line.contains("/health/ready") {
                        reply("200 OK", "")
                    } else if request_line.starts_with("GET /v2/models/ade20k-deeplabv3-mnv2") {
                        reply(
                            "200 OK",
                            r#"{"name":"ade20k-deeplabv3-mnv2","versions":["1"],"platform":"onnxruntime_onnx","inputs":[{"name":"image","datatype":"FP32","shape":[1,3,512,512]}],"outputs":[{"name":"class_map","datatype":"INT64","shape":[1,512,512]},{"name":"logits","datatype":"FP32","shape":[1,32,512,512]}]}"#,
                        )
                    } else {
                        match answer {
                            Answer::ServerError => reply(
                                "500 Internal Server Error",
                                r#"{"error":"CUDA out of memory on the server"}"#,
                            ),
                            Answer::CutShort => {
                                let header = r#"{"outputs":[{"name":"class_map","datatype":"INT64","shape":[1,512,512],"parameters":{"binary_data_size":2097152}}]}"#;
                                // Announces the whole map, sends a tenth of it, hangs up.
                                let _ = stream.write_all(
                                    format!(
                                        "HTTP/1.1 200 OK\r\nInference-Header-Content-Length: {}\r\nContent-Length: {}\r\n\r\n{header}",
                                        header.len(),
                                        header.len() + 2_097_152
                                    )
                                    .as_bytes(),
                                );
                                let _ = stream.write_all(&vec![0u8; 209_715]);
                                return;
                            }
                            Answer::NotTheProtocol => {
                                reply("200 OK", "<html><body>Welcome to nginx!</body></html>")
                            }
                        }
                    };
                    if stream.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn broken_answers_are_clear_errors() {
    let cache = tempfile::tempdir().expect("temp");
    for (answer, expected) in [
        (Answer::ServerError, "HTTP 500: CUDA out of memory on the server"),
        (Answer::CutShort, "cut short"),
        (Answer::NotTheProtocol, "not an inference response"),
    ] {
        let url = fake_server(answer);
        let work = tempfile::tempdir().expect("temp");
        let output = dreamlens(cache.path())
            .args(["--remote", &url, "--remote-models", "ade20k-deeplabv3-mnv2"])
            .args(["analyze", "--segmentation", "ade20k-deeplabv3-mnv2"])
            .args(["--person", "none", "--depth", "none", "--input"])
            .arg(photo_path())
            .arg("--output")
            .arg(work.path())
            .output()
            .expect("runs");
        let log = stderr(&output);
        assert!(!output.status.success(), "{expected}: must fail");
        assert!(
            log.contains(&url) && log.contains("ade20k-deeplabv3-mnv2") && log.contains(expected),
            "{expected}:\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// A server of its own for the tests that kill it.
fn own_server() -> triton::Triton {
    let repository = tempfile::tempdir().expect("temp");
    triton::export(repository.path(), &["--diffusion-model", &tiny()]);
    triton::start(repository)
}

/// `process --restyle` on the demo, restyling every frame remotely into PNGs; the server is
/// killed once a few frames are written. Returns the run's output and the frames on disk.
fn process_while_the_server_dies(extra: &[&str]) -> (Output, Vec<PathBuf>, tempfile::TempDir) {
    let mut server = own_server();
    let (cache, work) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let out = work.path().join("frames");
    let child = dreamlens(cache.path())
        .args(["--remote", &server.url])
        .args(extra)
        .args(["process", "--input", "demo", "--demo-size", "160x120", "--max-frames", "400"])
        .args(["--restyle", "teal walls", "--diffusion-model", &tiny(), "--restyle-size", "64"])
        .arg("--output")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let frames = |dir: &Path| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    };
    let mut child = child;
    while frames(&out).len() < 3 {
        assert!(child.try_wait().expect("state").is_none(), "the run ended before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let output = child.wait_with_output().expect("finishes");
    (output, frames(&out), work)
}

#[test]
fn a_server_killed_mid_run_stops_it_cleanly() {
    let (output, frames, _work) = process_while_the_server_dies(&[]);
    let log = stderr(&output);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("127.0.0.1") && log.contains("stopped after"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(frames.len() >= 3 && frames.len() < 400, "{} frames", frames.len());
    for frame in &frames {
        image::open(frame)
            .unwrap_or_else(|e| panic!("{} is not a whole PNG: {e}", frame.display()));
    }
}

#[test]
fn with_local_fallback_a_dead_server_is_reported_once_and_the_run_completes() {
    let (output, frames, _work) = process_while_the_server_dies(&["--remote-fallback", "local"]);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert_eq!(frames.len(), 400, "every frame written");
    // One notice per graph that had to move, not one per frame.
    let notices = log.matches("continues on this device").count();
    assert!((1..=4).contains(&notices), "{notices} notices:\n{log}");
}

/// A slow server: the window keeps showing frames while keyframes take their time, and shows
/// them (carried along) when they come.
#[test]
fn the_live_window_keeps_its_pace_with_a_slow_server() {
    let server = triton::shared();
    let dir = tempfile::tempdir().expect("temp");
    let display = xvfb();
    let shot = dir.path().join("shot.png");
    let output = dreamlens(dir.path())
        .env("DISPLAY", &display.display)
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--remote", &server.url, "--remote-prefix", triton::SLOW_PREFIX])
        .args(["--diffusion-model", &tiny(), "--restyle-size", "64", "--restyle", "teal walls"])
        .args(["--window-size", "800x512", "--quit-after-frames", "150", "--input"])
        .arg(images_dir().join("ADE_val_00000002.jpg"))
        .arg("--screenshot-to")
        .arg(&shot)
        .arg("--summary-json")
        .arg(dir.path().join("summary.json"))
        .output()
        .expect("runs");
    drop(display);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    let summary = read_summary(&dir.path().join("summary.json"));
    let runs = summary["stages"]["style"]["runs"].as_u64().unwrap_or(0);
    assert!(runs >= 1, "no keyframe arrived: {summary}");
    // Each keyframe costs at least four slow calls (1.2 s). A window that waited for them
    // would show at most the frame that started each run while it went; this one kept
    // showing frames (measured 54 during the one run on this still photo).
    let beside = summary["frames_beside_model_runs"].as_u64().unwrap_or(0);
    assert!(beside > 2 * runs, "{beside} frames were shown while {runs} keyframes were made");
    let shot = image::open(&shot).expect("screenshot").to_rgb8();
    let photo = photo("ADE_val_00000002");
    let mut sum = 0u64;
    for y in 150..500 {
        for x in 240..640 {
            let (a, b) = (shot.get_pixel(x, y), photo.get_pixel(x - 144, y));
            sum += (0..3).map(|c| u64::from(a.0[c].abs_diff(b.0[c]))).sum::<u64>();
        }
    }
    let mean = sum as f64 / (350.0 * 400.0 * 3.0);
    assert!(mean > 10.0, "the late keyframe is not shown ({mean:.1} levels from the photo)");
}

#[test]
fn a_server_saved_from_the_panel_runs_the_restyler_with_only_the_pipelines_small_files_here() {
    let server = triton::shared();
    let dir = tempfile::tempdir().expect("temp");
    // What "Hybrid mode" on the panel saves, as the phone app keeps it (it has no flags).
    let settings = dir.path().join("dreamlens/settings.toml");
    std::fs::create_dir_all(settings.parent().expect("folder")).expect("folder");
    std::fs::write(&settings, format!("inference_server = \"{}\"\n", server.url)).expect("write");
    // The pipeline's small files on this device, as the panel's download fetches them in hybrid
    // mode; its graphs are the server's alone.
    let mirror = dir.path().join("mirror");
    for file in [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "tokenizer/tokenizer_config.json",
        "tokenizer/special_tokens_map.json",
        "vae_decoder/config.json",
    ] {
        let to = mirror.join("sd-turbo").join(file);
        std::fs::create_dir_all(to.parent().expect("folder")).expect("folder");
        std::fs::copy(Path::new(&tiny()).join(file), &to).expect("copy");
    }
    let mirrors = std::env::join_paths([models_dir(), mirror]).expect("paths");
    let display = xvfb();
    let summary = dir.path().join("summary.json");
    let output = dreamlens(dir.path())
        .env("DREAMLENS_MODEL_DIRS", mirrors)
        .env("DISPLAY", &display.display)
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--restyle-size", "64", "--restyle", "teal walls"])
        .args(["--window-size", "640x400", "--quit-after-frames", "40", "--input"])
        .arg(photo_path())
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .expect("runs");
    drop(display);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    let summary = read_summary(&summary);
    let runs_on = summary["stages"]["style"]["runs_on"].as_str().unwrap_or_default().to_owned();
    assert!(runs_on.contains("unet on remote"), "runs on: {runs_on}\n{log}");
    assert!(runs_on.contains(&format!("remote ({})", server.url)), "runs on: {runs_on}\n{log}");
    let kept = std::fs::read_to_string(&settings).expect("settings kept");
    assert!(kept.contains(&server.url), "the saved server was dropped: {kept}");
}
