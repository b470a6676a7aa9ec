//! The controls' [`Settings`] kept across restarts, in the file the platform's [`Folders`] name.
//!
//! [`Folders`]: crate::platform::Folders

use std::path::Path;

use crate::controls::Settings;

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
