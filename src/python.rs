//! The pinned Python tools some model work needs (ONNX Runtime's wheel, the quantizer, the
//! TFLite converter): installed once with pip, every wheel checked against its published sha256,
//! and scripts run with those packages only.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

/// Why a pinned Python tool could not be installed or run. Each message carries its cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PythonError {
    /// Neither `python3` nor `python` is on the PATH.
    #[error("no Python interpreter found (tried python3, python)")]
    NoInterpreter,
    /// A folder or file of the install could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// What could not be written.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// pip refused a wheel whose sha256 is not the published one.
    #[error(
        "a downloaded wheel of {what} has a sha256 other than the published one, so it was refused (a proxy or mirror altered it)"
    )]
    WheelRefused {
        /// What was being installed.
        what: String,
    },
    /// pip failed.
    #[error("`{python} -m pip install` of {what} failed ({status}): {reason}")]
    Pip {
        /// The interpreter.
        python: &'static str,
        /// What was being installed.
        what: String,
        /// pip's exit status.
        status: String,
        /// pip's last line.
        reason: String,
    },
    /// The interpreter could not be started.
    #[error("cannot run {python}: {reason}")]
    Start {
        /// The interpreter.
        python: &'static str,
        /// The operating system's reason.
        reason: String,
    },
    /// The script failed.
    #[error("{python} exited with {status}: {reason}")]
    Script {
        /// The interpreter.
        python: &'static str,
        /// Its exit status.
        status: String,
        /// The script's last line on stderr.
        reason: String,
    },
}

/// A `PythonError::Write` for `path`.
fn write_error(path: &Path) -> impl Fn(std::io::Error) -> PythonError + '_ {
    move |error| PythonError::Write { path: path.to_owned(), reason: error.to_string() }
}

/// The folder for one pinned set of tools: named after what they are for and the hash of their
/// requirements, so a changed pin installs afresh beside the old set.
pub fn tools_dir(purpose: &str, requirements: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(requirements.as_bytes()));
    directories::ProjectDirs::from("", "", "dreamlens")
        .map(|dirs| dirs.data_dir().to_owned())
        .unwrap_or_else(|| std::env::temp_dir().join("dreamlens-data"))
        .join(format!("{purpose}-tools-{}", &digest[..12]))
}

/// Installs the wheels `requirements` pins (versions and hashes; `what` names them in messages)
/// into a temporary folder beside `target`, then renames it into place, so concurrent first runs
/// never see a half-installed folder (`complete` tells a finished one).
pub fn install_with_pip(
    target: &Path,
    requirements: &str,
    what: &str,
    complete: impl Fn(&Path) -> bool,
) -> Result<(), PythonError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".pip-install-")
        .tempdir_in(parent)
        .map_err(write_error(parent))?;
    let requirements_file = staging.path().join("requirements.txt");
    std::fs::write(&requirements_file, requirements).map_err(write_error(&requirements_file))?;
    let packages = staging.path().join("packages");
    eprintln!(
        "dreamlens: installing {what} (one time, checked against the published sha256) into {}",
        target.display()
    );
    let mut last = PythonError::NoInterpreter;
    for python in ["python3", "python"] {
        let status = Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                "--target",
            ])
            .arg(&packages)
            .arg("-r")
            .arg(&requirements_file)
            .output();
        match status {
            Ok(output) if output.status.success() => {
                return match std::fs::rename(&packages, target) {
                    Ok(()) => Ok(()),
                    // Another process finished first; its copy is as good as ours.
                    Err(_) if complete(target) => Ok(()),
                    Err(e) => Err(write_error(target)(e)),
                };
            }
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                last = if stderr.contains("DO NOT MATCH THE HASHES") {
                    PythonError::WheelRefused { what: what.to_owned() }
                } else {
                    PythonError::Pip {
                        python,
                        what: what.to_owned(),
                        status: output.status.to_string(),
                        reason: last_line(&stderr).to_owned(),
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = PythonError::Start { python, reason: e.to_string() },
        }
    }
    Err(last)
}

/// The last line of `text` with something on it.
fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// Runs `script` with `args` on the first Python interpreter found, with `packages` as its only
/// extra import path; returns the last line of its output that starts with `{` (the script's
/// JSON report), or why it failed.
pub fn run_script(packages: &Path, script: &Path, args: &[&OsStr]) -> Result<String, PythonError> {
    let mut last = PythonError::NoInterpreter;
    for python in ["python3", "python"] {
        match Command::new(python).arg(script).args(args).env("PYTHONPATH", packages).output() {
            Ok(run) if run.status.success() => {
                let stdout = String::from_utf8_lossy(&run.stdout);
                return Ok(stdout
                    .lines()
                    .rev()
                    .find(|l| l.starts_with('{'))
                    .unwrap_or("{}")
                    .to_owned());
            }
            Ok(run) => {
                let stderr = String::from_utf8_lossy(&run.stderr);
                last = PythonError::Script {
                    python,
                    status: run.status.to_string(),
                    reason: last_line(&stderr).to_owned(),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = PythonError::Start { python, reason: e.to_string() },
        }
    }
    Err(last)
}
