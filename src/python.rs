//! The pinned Python tools some model work needs (ONNX Runtime's wheel, the quantizer, the
//! TFLite converter): installed once with pip, every wheel checked against its published sha256,
//! and scripts run with those packages only.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest, Sha256};

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
) -> Result<(), String> {
    let parent = target.parent().ok_or("data folder has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".pip-install-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a folder in {}: {e}", parent.display()))?;
    let requirements_file = staging.path().join("requirements.txt");
    std::fs::write(&requirements_file, requirements)
        .map_err(|e| format!("cannot write {}: {e}", requirements_file.display()))?;
    let packages = staging.path().join("packages");
    eprintln!(
        "dreamlens: installing {what} (one time, checked against the published sha256) into {}",
        target.display()
    );
    let mut last = String::from("no Python interpreter found (tried python3, python)");
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
                    Err(e) => {
                        Err(format!("cannot move the install into {}: {e}", target.display()))
                    }
                };
            }
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let why = if stderr.contains("DO NOT MATCH THE HASHES") {
                    "a downloaded wheel's sha256 does not match the published one, so it was refused (a proxy or mirror altered it)".to_owned()
                } else {
                    stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned()
                };
                last =
                    format!("`{python} -m pip install` of {what} failed ({}): {why}", output.status)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = format!("cannot run {python}: {e}"),
        }
    }
    Err(last)
}

/// Runs `script` with `args` on the first Python interpreter found, with `packages` as its only
/// extra import path; returns the last line of its output that starts with `{` (the script's
/// JSON report), or why it failed.
pub fn run_script(packages: &Path, script: &Path, args: &[&OsStr]) -> Result<String, String> {
    let mut last = "no Python interpreter found (tried python3, python)".to_owned();
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
                let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                last = format!("{python} exited with {}: {why}", run.status);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => last = format!("cannot run {python}: {e}"),
        }
    }
    Err(last)
}
