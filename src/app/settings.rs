//! Settings that persist across restarts, in the file the platform's [`Folders`] name.
//!
//! [`Folders`]: crate::platform::Folders

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the user chose last time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Preset name or file.
    pub preset: String,
    /// Show the HUD.
    pub show_hud: bool,
    /// Show the control panel.
    pub show_panel: bool,
    /// The last restyle prompt applied.
    pub restyle_prompt: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            preset: "wall-paint".into(),
            show_hud: true,
            show_panel: true,
            restyle_prompt: String::new(),
        }
    }
}

/// The desktop's settings file, in the platform's per-user config folder.
pub fn desktop_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "dreamlens")
        .map(|d| d.config_dir().join("settings.toml"))
}

impl Settings {
    /// The settings saved at `path`, or the defaults when there are none or they are
    /// unreadable.
    pub fn load(path: Option<&Path>) -> Self {
        path.and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Saves to `path`; a failure is logged, never fatal.
    pub fn save(&self, path: Option<&Path>) {
        let Some(path) = path else { return };
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, toml::to_string(self).unwrap_or_default()));
        if let Err(error) = result {
            tracing::warn!(path = %path.display(), %error, "settings not saved");
        }
    }
}
