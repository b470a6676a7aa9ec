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

    /// This run's settings: the saved ones with what the command line asked for (`preset`, and
    /// `restyle`'s prompt, which also means the `restyle` preset when no preset is named).
    pub fn with_flags(&self, preset: Option<&str>, restyle: Option<&str>) -> Self {
        let mut run = self.clone();
        if let Some(preset) = preset.or(restyle.map(|_| "restyle")) {
            run.preset = preset.to_owned();
        }
        if let Some(prompt) = restyle {
            prompt.clone_into(&mut run.restyle_prompt);
        }
        run
    }

    /// What to save at exit: this run's settings, except that a choice the command line made
    /// and the panel left alone is for this run only, so the next plain start is as before.
    pub fn for_next_start(&self, saved: &Self, flags: &Self) -> Self {
        let mut next = self.clone();
        if next.preset == flags.preset && flags.preset != saved.preset {
            next.preset.clone_from(&saved.preset);
        }
        if next.restyle_prompt == flags.restyle_prompt {
            next.restyle_prompt.clone_from(&saved.restyle_prompt);
        }
        if next.segmentation_model == flags.segmentation_model
            && flags.segmentation_model != saved.segmentation_model
        {
            next.segmentation_model.clone_from(&saved.segmentation_model);
        }
        if next.inference_server == flags.inference_server
            && flags.inference_server != saved.inference_server
        {
            next.inference_server.clone_from(&saved.inference_server);
        }
        next
    }

    /// These settings with `--remote`'s server, when the command line named one.
    pub fn with_inference_server(mut self, url: Option<&str>) -> Self {
        if let Some(url) = url {
            url.clone_into(&mut self.inference_server);
        }
        self
    }

    /// These settings with `--segmentation-model`'s choice, when the command line made one.
    pub fn with_segmentation_model(mut self, model: Option<&str>) -> Self {
        if let Some(model) = model {
            self.segmentation_model = Some(model.to_owned());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_for_one_run_and_a_panel_choice_is_kept() {
        let saved = Settings { preset: "toon".into(), ..Settings::default() };
        let flags = saved.with_flags(None, Some("a watercolour room"));
        assert_eq!(
            (flags.preset.as_str(), flags.restyle_prompt.as_str()),
            ("restyle", "a watercolour room")
        );
        // Left alone: the next plain start is the saved one.
        assert_eq!(flags.for_next_start(&saved, &flags), saved);
        // Changed on the panel during the run: kept.
        let chosen = Settings { preset: "film".into(), ..flags.clone() };
        assert_eq!(chosen.for_next_start(&saved, &flags).preset, "film");
        // No flags: everything the run ends with is kept.
        let plain = saved.with_flags(None, None);
        let hidden = Settings { show_hud: false, ..plain.clone() };
        assert_eq!(hidden.for_next_start(&saved, &plain), hidden);
    }

    #[test]
    fn the_segmentation_model_flag_is_for_one_run_and_the_panels_choice_is_kept() {
        let saved = Settings::default();
        let flags =
            saved.with_flags(None, None).with_segmentation_model(Some("ade20k-deeplabv3-mnv2"));
        assert_eq!(flags.segmentation_model.as_deref(), Some("ade20k-deeplabv3-mnv2"));
        assert_eq!(flags.for_next_start(&saved, &flags).segmentation_model, None);
        let chosen = Settings { segmentation_model: Some("ade20k-mosaic".into()), ..flags.clone() };
        let next = chosen.for_next_start(&saved, &flags);
        assert_eq!(next.segmentation_model.as_deref(), Some("ade20k-mosaic"));
        // No flag: the saved choice stays.
        let kept = next.with_segmentation_model(None);
        assert_eq!(kept.segmentation_model.as_deref(), Some("ade20k-mosaic"));
    }

    #[test]
    fn the_remote_flag_is_for_one_run_and_the_panels_server_is_kept() {
        let saved =
            Settings { inference_server: "http://gpu-box:8000".into(), ..Settings::default() };
        let flags = saved.with_flags(None, None).with_inference_server(Some("http://other:8000"));
        assert_eq!(flags.inference_server, "http://other:8000");
        assert_eq!(flags.for_next_start(&saved, &flags), saved);
        let local = Settings { inference_server: String::new(), ..flags.clone() };
        assert_eq!(local.for_next_start(&saved, &flags).inference_server, "");
        assert_eq!(saved.clone().with_inference_server(None), saved);
    }
}
