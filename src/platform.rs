//! What differs between the desktop and the phone, gathered in one value the shared live app
//! is given: where camera frames come from, where sound comes from, which H.264 encoder records,
//! where settings and models live, and where finished clips and stills are shown. The desktop's is [`Platform::desktop`]; the Android app
//! (`android/`) builds its own from Camera2, MediaCodec and the app's internal storage.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    capture::{Cameras, Microphones},
    record::VideoEncoders,
};

/// A private runtime folder for a Linux session that has none. Graphics drivers (Mesa's Vulkan
/// layers among them) print an error on every start when `XDG_RUNTIME_DIR` is unset or names no
/// folder, as on servers and in containers; the folder they want is a per-user one only its
/// owner can enter. Returns the folder to set the variable to, or `None` when the session's own
/// is fine (or this is not Linux).
pub fn missing_runtime_dir() -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let current = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    if current.is_some_and(|dir| dir.is_dir()) {
        return None;
    }
    private_runtime_dir()
}

#[cfg(unix)]
fn private_runtime_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("dreamlens-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // Use it only if it is ours and closed to others (another user could have made it first).
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let private = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0;
    private.then_some(dir)
}

#[cfg(not(unix))]
fn private_runtime_dir() -> Option<PathBuf> {
    None
}

/// Where the app keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    /// The settings file (`None`: settings are not kept).
    pub settings: Option<PathBuf>,
    /// The model cache: downloads and verified copies.
    pub models: PathBuf,
    /// Where recordings and snapshots go: the working folder on the desktop; on a phone, the
    /// app's shared media folder, which the gallery shows.
    pub outputs: PathBuf,
}

impl Folders {
    /// The desktop's per-user config and cache folders.
    pub fn desktop() -> Self {
        let settings = directories::ProjectDirs::from("", "", "dreamlens")
            .map(|d| d.config_dir().join("settings.toml"));
        Self { settings, models: crate::store::default_cache_dir(), outputs: PathBuf::from(".") }
    }

    /// Everything under one folder the app owns (a phone app's internal storage); a platform
    /// with a better place for outputs sets `outputs` after.
    pub fn under(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            settings: Some(root.join("settings.toml")),
            models: root.join("models"),
            outputs: root.join("outputs"),
        }
    }
}

/// What a finished file is, for the gallery that takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// An MP4 recording.
    Video,
    /// A PNG snapshot.
    Picture,
}

/// Where finished recordings and snapshots are shown beyond the outputs folder: a phone's
/// gallery. The files are written into the outputs folder first, so a clip being recorded
/// survives the app being killed; only a finished one is handed over.
pub trait Gallery: Send + Sync {
    /// Moves the finished `file` into the gallery; returns where it now is, in the user's words.
    fn publish(
        &self,
        file: &Path,
        kind: MediaKind,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>>;
}

/// The platform's devices and folders.
#[derive(Clone)]
pub struct Platform {
    /// Human-readable name for reports ("desktop", "android").
    pub name: &'static str,
    /// The cameras.
    pub cameras: Arc<dyn Cameras>,
    /// The microphones.
    pub microphones: Arc<dyn Microphones>,
    /// The H.264 encoders recordings use.
    pub video_encoders: Arc<dyn VideoEncoders>,
    /// Where files live.
    pub folders: Folders,
    /// The gallery finished files go to, where there is one (the desktop leaves them in
    /// `folders.outputs`).
    pub gallery: Option<Arc<dyn Gallery>>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("name", &self.name)
            .field("folders", &self.folders)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "desktop")]
impl Platform {
    /// nokhwa cameras, cpal microphones, OpenH264 and the per-user folders.
    pub fn desktop() -> Self {
        Self {
            name: "desktop",
            cameras: Arc::new(crate::capture::DesktopCameras),
            microphones: Arc::new(crate::capture::microphone::DesktopMicrophones),
            video_encoders: Arc::new(crate::record::OpenH264Encoders),
            folders: Folders::desktop(),
            gallery: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_folder_holds_settings_models_and_outputs() {
        let folders = Folders::under("/data/data/app.dreamlens/files");
        assert_eq!(
            folders.settings.as_deref(),
            Some(std::path::Path::new("/data/data/app.dreamlens/files/settings.toml"))
        );
        assert!(folders.models.ends_with("files/models"));
        assert!(folders.outputs.ends_with("files/outputs"));
    }
}
