//! A real Triton Inference Server on 127.0.0.1 for the remote-inference tests, started with
//! the development launcher (`scripts/serve_triton.py`, installed by
//! `scripts/install-triton.sh`) on a model repository written by `dreamlens serve export`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
};

use super::{copy_tree, models_dir, root};

/// Models whose name starts with this answer after [`SLOW_DELAY_MS`].
pub const SLOW_PREFIX: &str = "slow-";
/// The slow models' delay per call.
pub const SLOW_DELAY_MS: u32 = 300;

/// A running launcher and its repository.
pub struct Triton {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _repository: tempfile::TempDir,
}

impl Drop for Triton {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Triton {
    /// Stops the launcher and its Triton at once (the whole process group, SIGKILL): a server
    /// that dies mid-run.
    pub fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// The Python of the Triton venv.
fn python() -> PathBuf {
    let path =
        std::env::var_os("DREAMLENS_TRITON_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".local/share/dreamlens/triton-venv/bin/python")
        });
    assert!(
        path.is_file(),
        "no Triton venv at {} (run scripts/install-triton.sh, as scripts/check.sh does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `dreamlens serve export` into `repository` with `args`.
pub fn export(repository: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .args(["serve", "export", "--cpu", "--output"])
        .arg(repository)
        .args(args)
        .output()
        .expect("runs");
    assert!(output.status.success(), "serve export: {}", String::from_utf8_lossy(&output.stderr));
}

/// Starts the launcher on `repository` (slow models delayed) and waits until Triton is ready.
/// The ports are free when chosen but may be taken before Triton binds them (another test
/// process chose the same): then it starts again on new ones.
pub fn start(repository: tempfile::TempDir) -> Triton {
    const TRIES: usize = 3;
    let log = repository.path().join("triton.log");
    for attempt in 1..=TRIES {
        let (mut child, ready) = launch(repository.path(), &log);
        if let Some(line) = ready {
            let url = line["ready ".len()..].trim().to_owned();
            return Triton { child, url, _repository: repository };
        }
        let _ = child.wait();
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        // Triton says "Socket 'ADDRESS' already in use"; Python, "Address already in use".
        let taken = tail.contains("already in use");
        if !(taken && attempt < TRIES) {
            let last: Vec<&str> = tail.lines().rev().take(30).collect();
            panic!("Triton did not start: {}", last.join("\n"));
        }
    }
    unreachable!("the last try returns or panics")
}

/// One launch on newly chosen ports: the launcher and its `ready URL` line, if it came.
fn launch(repository: &Path, log: &Path) -> (Child, Option<String>) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(python())
        .arg(root().join("scripts/serve_triton.py"))
        .arg("--model-repository")
        .arg(repository)
        .args(["--http-port", &free_port().to_string()])
        .args(["--grpc-port", &free_port().to_string()])
        .args(["--metrics-port", &free_port().to_string()])
        .args(["--delay-ms", &SLOW_DELAY_MS.to_string(), "--delay-prefix", SLOW_PREFIX])
        .arg("--stop-when-stdin-closes")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .process_group(0)
        .spawn()
        .expect("the launcher starts");
    let stdout = child.stdout.take().expect("piped");
    let ready =
        BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.starts_with("ready "));
    (child, ready)
}

/// The tiny pipeline in a temporary folder with its UNet in half precision.
pub fn half_pipeline() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp");
    let source = root().join("tests/data/tiny-sd");
    copy_tree(&source, dir.path());
    std::fs::copy(
        root().join("tests/data/tiny-sd-unet-fp16.onnx"),
        dir.path().join("unet/model.onnx"),
    )
    .expect("fp16 unet");
    dir
}

/// One server per test process, shared by its tests: the tiny pipeline (with TAESD) under
/// its own names, again under `half-` with a float16 UNet and under `slow-` answering late, the
/// segmentation model, and that model again posing as `wrong-selfie-segmentation` (a graph
/// that does not fit the person model's contract).
pub fn shared() -> &'static Triton {
    static SERVER: OnceLock<Triton> = OnceLock::new();
    SERVER.get_or_init(|| {
        // Never dropped (a static): kept under target/ rather than the system's temp folder.
        let repository = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp");
        let tiny = root().join("tests/data/tiny-sd");
        let tiny = tiny.to_str().expect("utf8");
        let taesd = format!("{tiny}/taesd");
        export(
            repository.path(),
            &["--diffusion-model", tiny, "--taesd", &taesd, "ade20k-deeplabv3-mnv2"],
        );
        let half = half_pipeline();
        let half_path = half.path().to_str().expect("utf8");
        export(repository.path(), &["--diffusion-model", half_path, "--remote-prefix", "half-"]);
        export(repository.path(), &["--diffusion-model", tiny, "--remote-prefix", SLOW_PREFIX]);
        export(repository.path(), &["--remote-prefix", "wrong-", "ade20k-deeplabv3-mnv2"]);
        let from = repository.path().join("wrong-ade20k-deeplabv3-mnv2");
        let to = repository.path().join("wrong-selfie-segmentation");
        std::fs::rename(&from, &to).expect("rename");
        start(repository)
    })
}
