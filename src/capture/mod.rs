//! Camera discovery and frame sources. The only module that talks to camera devices.

/// A camera the system exposes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraSummary {
    /// Device index or path.
    pub device: String,
    /// Human-readable name.
    pub name: String,
}

/// Cameras present now. On Linux these are the V4L2 capture nodes (`/dev/video*`).
pub fn list_cameras() -> Vec<CameraSummary> {
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/sys/class/video4linux") else {
            return Vec::new();
        };
        let mut cameras: Vec<CameraSummary> = entries
            .filter_map(|e| e.ok())
            .map(|entry| {
                let node = entry.file_name().to_string_lossy().into_owned();
                let name = std::fs::read_to_string(entry.path().join("name"))
                    .map(|n| n.trim().to_owned())
                    .unwrap_or_else(|_| node.clone());
                CameraSummary { device: format!("/dev/{node}"), name }
            })
            .collect();
        cameras.sort_by(|a, b| a.device.cmp(&b.device));
        cameras
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}
