//! Finding and loading the ONNX Runtime shared library.
//!
//! dreamlens loads ONNX Runtime at run time (`ort`'s `load-dynamic`), so one binary works with the
//! CPU build or a GPU/NPU build of the library. Search order: `ORT_DYLIB_PATH`; next to the
//! executable (and its `lib/`); the app's data folder. If none is found, the pinned version is
//! installed once into the data folder from the `onnxruntime` PyPI wheel with `pip`.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The ONNX Runtime release this build of dreamlens is made for (ort's `api-31`).
pub const ORT_VERSION: &str = "1.31.1";
/// Minor version the loaded library must have at least.
const ORT_MIN_MINOR: u32 = 31;
/// The published wheels' sha256 digests, in pip's requirements format: pip refuses any wheel
/// whose hash is not listed, so only the published library is ever installed and run.
const WHEEL_REQUIREMENTS: &str = include_str!("../../assets/onnxruntime/requirements-1.31.1.txt");
/// Environment variable naming the library file explicitly.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Why ONNX Runtime is not available.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    /// `ORT_DYLIB_PATH` points at nothing.
    #[error(
        "{ORT_DYLIB_ENV} is set to {0}, which does not exist; point it at libonnxruntime {ORT_VERSION} or unset it"
    )]
    EnvPathMissing(String),
    /// Not found and could not be installed.
    #[error(
        "ONNX Runtime {ORT_VERSION} was not found ({searched}) and installing it failed: {problem}. \
         Fix: `python3 -m pip install --target {target} onnxruntime=={ORT_VERSION}`, or set \
         {ORT_DYLIB_ENV} to an existing libonnxruntime {ORT_VERSION}"
    )]
    Install {
        /// Places searched.
        searched: String,
        /// Why pip failed (boxed: it is large, and rare).
        problem: Box<InstallProblem>,
        /// Where dreamlens looks for it.
        target: String,
    },
    /// The library file is wrong: not loadable, or too old.
    #[error(
        "cannot use ONNX Runtime at {path}: {reason}. dreamlens needs ONNX Runtime {ORT_VERSION} (1.{ORT_MIN_MINOR} or newer); set {ORT_DYLIB_ENV} to such a library or unset it to let dreamlens install one"
    )]
    Load {
        /// The library file.
        path: String,
        /// What the loader said (text: the error is kept for every later call, and ONNX
        /// Runtime's own error cannot be copied).
        reason: String,
    },
    /// The app's package has no ONNX Runtime (an APK built without it).
    #[error(
        "this app was packaged without ONNX Runtime ({name}: {reason}), so the layers that run a \
         model are off; the camera and the other effects work. Install a build that packages \
         ONNX Runtime {ORT_VERSION}"
    )]
    NotPackaged {
        /// The library's file name in the package.
        name: String,
        /// What the loader said.
        reason: String,
    },
}

/// Why installing ONNX Runtime's wheel gave no library.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InstallProblem {
    /// pip could not install it.
    #[error(transparent)]
    Pip(#[from] crate::python::PythonError),
    /// pip installed a wheel without a library for this platform.
    #[error("pip succeeded but the wheel holds no library for this platform")]
    NoLibrary,
}

/// Where the loaded library came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LibrarySource {
    /// `ORT_DYLIB_PATH`.
    Environment,
    /// Beside the executable.
    BesideExecutable,
    /// The app data folder (installed earlier).
    DataFolder,
    /// Installed by this run into the data folder.
    InstalledNow,
    /// Packaged with the app (an Android APK's native libraries), loaded by name.
    Bundled,
}

/// The loaded ONNX Runtime.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrtLibrary {
    /// The library file.
    pub path: PathBuf,
    /// Version reported by the library's build info.
    pub version: String,
    /// How it was found.
    pub source: LibrarySource,
}

/// The loaded library and the process-wide ONNX Runtime environment sessions are built in.
pub struct Runtime {
    /// Which library was loaded.
    pub library: OrtLibrary,
    /// The shared environment.
    pub env: ort::environment::Environment,
}

static LOADED: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// Loads ONNX Runtime once per process (later calls return the first result).
pub fn load() -> Result<&'static Runtime, RuntimeError> {
    LOADED.get_or_init(load_uncached).as_ref().map_err(Clone::clone)
}

/// Loads the ONNX Runtime library packaged with the app, found by the system loader under
/// `name` (an Android APK's `libonnxruntime.so`); never searches or installs. Later [`load`]
/// calls return this runtime.
pub fn load_bundled(name: &str) -> Result<&'static Runtime, RuntimeError> {
    LOADED
        .get_or_init(|| {
            open(PathBuf::from(name), LibrarySource::Bundled).map_err(|error| match error {
                RuntimeError::Load { reason, .. } => {
                    RuntimeError::NotPackaged { name: name.to_owned(), reason }
                }
                other => other,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn load_uncached() -> Result<Runtime, RuntimeError> {
    let (path, source) = locate()?;
    open(path, source)
}

fn open(path: PathBuf, source: LibrarySource) -> Result<Runtime, RuntimeError> {
    let load_error =
        |reason: String| RuntimeError::Load { path: path.display().to_string(), reason };
    let env = ort::init_from(&path)
        .map_err(|e| load_error(e.to_string()))?
        .with_name("dreamlens")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    env.set_log_level(ort::logging::LogLevel::Error);
    let version =
        version_from_file_name(&path).unwrap_or_else(|| "unknown (not in the file name)".into());
    tracing::info!(path = %path.display(), version, "loaded ONNX Runtime");
    Ok(Runtime { library: OrtLibrary { path, version, source }, env })
}

/// Reads `1.31.1` from `libonnxruntime.so.1.31.1` or `libonnxruntime.1.31.1.dylib`; ort has
/// already refused libraries older than the API level it was built for.
fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let start = name.find(|c: char| c.is_ascii_digit())?;
    let rest = &name[start..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let version = rest[..end].trim_end_matches('.');
    (version.matches('.').count() >= 1).then(|| version.to_owned())
}

/// The folder dreamlens installs ONNX Runtime into.
pub fn data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "dreamlens")
        .map(|dirs| dirs.data_dir().to_owned())
        .unwrap_or_else(|| std::env::temp_dir().join("dreamlens-data"))
        .join(format!("onnxruntime-{ORT_VERSION}"))
}

/// The platform's file name prefix/suffix test for the ORT library.
fn is_library_name(name: &str) -> bool {
    if cfg!(windows) {
        name.eq_ignore_ascii_case("onnxruntime.dll")
    } else if cfg!(target_os = "macos") {
        name.starts_with("libonnxruntime") && name.ends_with(".dylib")
    } else {
        name.starts_with("libonnxruntime.so")
    }
}

/// The first ORT library in `dir`, preferring the pinned version's file name.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_library_name))
        .collect();
    found.sort_by_key(|p| !p.to_string_lossy().contains(ORT_VERSION));
    found.into_iter().next()
}

fn wheel_library(root: &Path) -> Option<PathBuf> {
    library_in(&root.join("onnxruntime").join("capi"))
}

/// Finds the library, installing it if needed.
fn locate() -> Result<(PathBuf, LibrarySource), RuntimeError> {
    if let Some(path) = std::env::var_os(ORT_DYLIB_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok((path, LibrarySource::Environment))
        } else {
            Err(RuntimeError::EnvPathMissing(path.display().to_string()))
        };
    }
    let mut searched = vec![format!("{ORT_DYLIB_ENV} unset")];
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_owned))
    {
        for dir in [exe_dir.clone(), exe_dir.join("lib")] {
            if let Some(path) = library_in(&dir) {
                return Ok((path, LibrarySource::BesideExecutable));
            }
            searched.push(dir.display().to_string());
        }
    }
    let data = data_dir();
    if let Some(path) = wheel_library(&data) {
        return Ok((path, LibrarySource::DataFolder));
    }
    searched.push(data.display().to_string());
    let install_error = |problem: InstallProblem| RuntimeError::Install {
        searched: searched.join(", "),
        problem: Box::new(problem),
        target: data.display().to_string(),
    };
    let what = format!("ONNX Runtime {ORT_VERSION}");
    crate::python::install_with_pip(&data, WHEEL_REQUIREMENTS, &what, |dir| {
        wheel_library(dir).is_some()
    })
    .map_err(|error| install_error(error.into()))?;
    wheel_library(&data)
        .map(|path| (path, LibrarySource::InstalledNow))
        .ok_or_else(|| install_error(InstallProblem::NoLibrary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_the_file_name() {
        let version = |name: &str| version_from_file_name(Path::new(name));
        assert_eq!(version("/x/libonnxruntime.so.1.31.1").as_deref(), Some("1.31.1"));
        assert_eq!(version("libonnxruntime.1.32.0.dylib").as_deref(), Some("1.32.0"));
        assert_eq!(version("onnxruntime.dll"), None);
    }

    #[test]
    fn every_requirement_line_pins_a_sha256() {
        let hashes: Vec<&str> =
            WHEEL_REQUIREMENTS.split_whitespace().filter(|w| w.starts_with("--hash=")).collect();
        assert!(hashes.len() >= 8, "one per published wheel");
        for hash in hashes {
            let hex = hash.strip_prefix("--hash=sha256:").expect("sha256");
            assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        }
        assert!(WHEEL_REQUIREMENTS.contains(&format!("onnxruntime=={ORT_VERSION}")));
    }

    /// The real pip, fetching the real wheel, with hashes that cannot match: it must refuse and
    /// leave nothing installed. (Uses PyPI, or pip's cache after the first install.)
    #[test]
    fn a_wheel_with_the_wrong_hash_is_refused() {
        let dir = tempfile::tempdir().expect("temp");
        let target = dir.path().join("onnxruntime");
        let wrong = format!("onnxruntime=={ORT_VERSION} --hash=sha256:{}\n", "0".repeat(64));
        let error = crate::python::install_with_pip(&target, &wrong, "ONNX Runtime", |_| false)
            .expect_err("refused");
        assert!(matches!(error, crate::python::PythonError::WheelRefused { .. }), "{error}");
        assert!(!target.exists(), "nothing installed");
    }

    #[test]
    fn library_names_match_the_platform() {
        if cfg!(target_os = "linux") {
            assert!(is_library_name("libonnxruntime.so.1.31.1"));
            assert!(!is_library_name("libonnxruntime_providers_shared.so"));
        }
    }
}
