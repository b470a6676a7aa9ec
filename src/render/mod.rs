//! GPU rendering with wgpu. The only module (besides the app shell) that knows wgpu.
//!
//! Architecture invariant: nothing here depends on `inference`, `store` or `capture`; the
//! renderer takes plain frames, `scene` maps and `effects` layers.

pub(crate) mod bindings;
pub mod carry;
pub mod compositor;
pub mod context;
pub mod present;
pub mod readback;
pub mod shaders;
pub mod staging;
pub mod yuv;

pub use compositor::{
    AnalysisFilter, Compositor, CompositorInput, FramePixels, ReferencePixels, SPARED_PERSON,
};
pub use context::{ReadbackFailure, RenderContext, RenderError};

/// One GPU adapter wgpu can see.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    /// Adapter name (for lavapipe: `llvmpipe (...)`).
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl).
    pub backend: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// True for software adapters that render on the CPU.
    pub is_cpu: bool,
}

/// Lists every adapter on the backends selected by `WGPU_BACKEND` (all by default).
pub fn list_adapters() -> Vec<AdapterSummary> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .iter()
        .map(|adapter| {
            let info = adapter.get_info();
            AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info).trim().to_owned(),
                is_cpu: info.device_type == wgpu::DeviceType::Cpu,
            }
        })
        .collect()
}

/// RGB pixels as the RGBA bytes the GPU takes (opaque alpha).
pub fn rgba_bytes(image: &image::RgbImage) -> Vec<u8> {
    let mut rgba = vec![0u8; (image.width() * image.height() * 4) as usize];
    rgb_to_rgba(image.as_raw(), &mut rgba);
    rgba
}

/// Writes RGB pixels into `rgba` as RGBA with opaque alpha (as many as both hold).
pub(crate) fn rgb_to_rgba(rgb: &[u8], rgba: &mut [u8]) {
    for (out, px) in rgba.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
        out.copy_from_slice(&[px[0], px[1], px[2], 255]);
    }
}
