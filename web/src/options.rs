//! The page's URL parameters: the desktop app's flags, spelled the same
//! (`?preset=wall-paint&quit-after-frames=150&record-seconds=4`).

use dreamlens::inference::web::WebProvider;

/// What the URL asks of the page.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// The preset (built-in name).
    pub preset: String,
    /// The restyle prompt (the desktop's `--restyle`): sets the preset's restyle layer, or adds
    /// a full-frame one; alone, it means the `restyle` preset.
    pub restyle: Option<String>,
    /// Stop drawing after this many shown frames (automation).
    pub quit_after_frames: Option<u64>,
    /// Record this many seconds from the first frame, then save the clip.
    pub record_seconds: Option<f64>,
    /// The execution provider the models run on.
    pub provider: WebProvider,
    /// The camera size asked for.
    pub camera_size: (u32, u32),
    /// The segmentation model asked for in the address; `None`: the preset's, else the default.
    pub segmentation_model: Option<String>,
    /// Save a PNG snapshot of the last frame of a `quit-after-frames` run (the desktop's
    /// `--screenshot-to`).
    pub snapshot: bool,
    /// How camera frames reach the GPU; `None`: chosen by the adapter.
    pub frame_copy: Option<FrameCopy>,
    /// Record the microphone's sound with the picture (`microphone=none` turns it off, as
    /// the desktop's `--microphone none` does).
    pub microphone: bool,
}

/// How camera frames reach the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCopy {
    /// The browser copies the camera's picture into a texture (`copyExternalImageToTexture`):
    /// no full frame crosses the CPU. The way on a real GPU.
    Gpu,
    /// The page reads the frame as RGBA and uploads it: on a software adapter (the GPU emulated
    /// on the CPU), where the browser's own copy takes the slower path.
    Cpu,
}

impl FrameCopy {
    /// The way for an adapter: the browser's copy except on an emulated GPU.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Self {
        match info.device_type {
            wgpu::DeviceType::Cpu => Self::Cpu,
            _ => Self::Gpu,
        }
    }
}

/// A parameter that cannot be used: its name and what is wrong.
#[derive(Debug)]
pub struct BadParameter(pub String);

impl std::fmt::Display for BadParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PageOptions {
    /// Reads `?name=value` pairs; `webgpu_available` picks the default provider.
    pub fn parse(
        pairs: impl IntoIterator<Item = (String, String)>,
        webgpu_available: bool,
    ) -> Result<Self, BadParameter> {
        let mut options = Self {
            preset: "wall-paint".into(),
            restyle: None,
            quit_after_frames: None,
            record_seconds: None,
            provider: if webgpu_available { WebProvider::WebGpu } else { WebProvider::Wasm },
            camera_size: (1280, 720),
            segmentation_model: None,
            snapshot: false,
            frame_copy: None,
            microphone: true,
        };
        let mut preset_named = false;
        for (name, value) in pairs {
            let bad = |what: &str| BadParameter(format!("URL parameter `{name}={value}`: {what}"));
            match name.as_str() {
                "preset" => {
                    options.preset = value.clone();
                    preset_named = true;
                }
                "restyle" => {
                    if value.trim().is_empty() {
                        return Err(bad("say what the picture should become"));
                    }
                    options.restyle = Some(value.trim().to_owned());
                }
                "quit-after-frames" => {
                    options.quit_after_frames =
                        Some(value.parse().map_err(|_| bad("expected a whole number"))?)
                }
                "record-seconds" => {
                    let seconds: f64 = value.parse().map_err(|_| bad("expected seconds"))?;
                    if !(seconds > 0.0 && seconds <= 600.0) {
                        return Err(bad("expected 0 to 600 seconds"));
                    }
                    options.record_seconds = Some(seconds);
                }
                "provider" => {
                    options.provider = WebProvider::parse(&value)
                        .ok_or_else(|| bad("expected `webgpu` or `wasm`"))?
                }
                "camera-size" => {
                    let (w, h) = value
                        .split_once('x')
                        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                        .filter(|&(w, h): &(u32, u32)| {
                            (16..=4096).contains(&w) && (16..=4096).contains(&h)
                        })
                        .ok_or_else(|| bad("expected WIDTHxHEIGHT, 16 to 4096 each"))?;
                    options.camera_size = (w, h);
                }
                "segmentation-model" => options.segmentation_model = Some(value.clone()),
                "frame-copy" => {
                    options.frame_copy = Some(match value.as_str() {
                        "gpu" => FrameCopy::Gpu,
                        "cpu" => FrameCopy::Cpu,
                        _ => return Err(bad("expected `gpu` or `cpu`")),
                    })
                }
                "microphone" => {
                    options.microphone = match value.as_str() {
                        "none" => false,
                        "default" => true,
                        _ => return Err(bad("expected `default` or `none`")),
                    }
                }
                "snapshot" => {
                    options.snapshot = value.parse().map_err(|_| bad("expected true or false"))?
                }
                _ => return Err(bad("unknown parameter")),
            }
        }
        if options.restyle.is_some() && !preset_named {
            "restyle".clone_into(&mut options.preset);
        }
        Ok(options)
    }
}
