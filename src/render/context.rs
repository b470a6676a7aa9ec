//! The GPU device: one adapter, device and queue, usable without a window (offscreen textures
//! and readback) and, later, with a window surface.

use std::sync::{Arc, Mutex};

/// Why no GPU device could be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No adapter at all.
    #[error(
        "no GPU adapter found (wgpu backends: {backends}); install a Vulkan, Metal, DX12 or GL \
         driver (on Debian/Ubuntu without a GPU: `apt-get install mesa-vulkan-drivers`)"
    )]
    NoAdapter {
        /// Backends that were searched.
        backends: String,
    },
    /// The adapter refused to create a device.
    #[error("GPU adapter {adapter} could not create a device: {cause}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's account.
        cause: wgpu::RequestDeviceError,
    },
    /// Reading a rendered picture back failed.
    #[error("reading the rendered frame back from the GPU failed: {cause}")]
    Readback {
        /// What failed.
        cause: ReadbackFailure,
    },
    /// The effect stack cannot be built as asked.
    #[error("{0}")]
    Setup(String),
    /// A layer names a region the segmentation model does not have.
    #[error(transparent)]
    Region(#[from] crate::effects::UnknownRegion),
    /// The GPU refused a command (a validation error or out of memory).
    #[error("the GPU refused the work: {0}")]
    Gpu(String),
    /// A picture is larger than the adapter's textures can hold.
    #[error(
        "a {width}x{height} picture is larger than this GPU's textures allow ({max}x{max}); give a smaller input or set --output-size"
    )]
    TooLarge {
        /// Asked width.
        width: u32,
        /// Asked height.
        height: u32,
        /// The adapter's limit per side.
        max: u32,
    },
}

/// Why a picture could not be read back from the GPU.
#[derive(Debug, thiserror::Error)]
pub enum ReadbackFailure {
    /// The texture's format has no fixed bytes per pixel.
    #[error("format {0:?} cannot be copied")]
    Format(wgpu::TextureFormat),
    /// Waiting for the GPU failed.
    #[error("waiting for the GPU failed: {cause}")]
    Poll {
        /// wgpu's account.
        cause: wgpu::PollError,
    },
    /// The staging buffer could not be mapped.
    #[error("the staging buffer could not be mapped: {cause}")]
    Map {
        /// wgpu's account.
        cause: wgpu::BufferAsyncError,
    },
    /// The mapped bytes could not be viewed.
    #[error("the mapped bytes could not be viewed: {cause}")]
    View {
        /// wgpu's account.
        cause: wgpu::MapRangeError,
    },
    /// The device went away before the mapping finished.
    #[error("the GPU dropped the buffer mapping before it finished")]
    Dropped,
    /// The texture holds other pixels than the caller reads.
    #[error("the texture is not {0}")]
    NotFormat(&'static str),
}

impl From<ReadbackFailure> for RenderError {
    fn from(cause: ReadbackFailure) -> Self {
        Self::Readback { cause }
    }
}

/// A device and queue on the best adapter available. Clones are handles to the same device, so
/// another thread can build pipelines while the window draws.
#[derive(Clone)]
pub struct RenderContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What the adapter is.
    pub adapter_info: wgpu::AdapterInfo,
    /// Kept for creating surfaces later.
    pub instance: wgpu::Instance,
    /// The chosen adapter.
    pub adapter: wgpu::Adapter,
    /// The first GPU error no error scope caught, kept for [`RenderContext::check_errors`];
    /// wgpu's default for these is to panic.
    uncaptured: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for RenderContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderContext")
            .field("adapter", &self.adapter_info.name)
            .finish_non_exhaustive()
    }
}

impl RenderContext {
    /// A device without a window. Prefers a real GPU (discrete, then integrated); callers tell the
    /// user when only a software adapter (lavapipe, llvmpipe, WARP) exists (`is_software`).
    #[cfg(not(target_family = "wasm"))]
    pub fn headless() -> Result<Self, RenderError> {
        let rank = |info: &wgpu::AdapterInfo| match info.device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        let requested = wgpu::InstanceDescriptor::new_without_display_handle_from_env().backends;
        // Vulkan/Metal/DX12 first; GL only when they offer no adapter at all (probing GL/EGL is
        // slow and prints errors on machines without a display).
        let mut found: Option<(wgpu::Instance, wgpu::Adapter)> = None;
        for backends in [requested & wgpu::Backends::PRIMARY, requested - wgpu::Backends::PRIMARY] {
            if backends.is_empty() {
                continue;
            }
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            descriptor.backends = backends;
            let instance = wgpu::Instance::new(descriptor);
            let adapters = pollster::block_on(instance.enumerate_adapters(backends));
            let best = adapters.into_iter().min_by_key(|a| rank(&a.get_info()));
            if let Some(adapter) = best {
                let better = found
                    .as_ref()
                    .is_none_or(|(_, f)| rank(&adapter.get_info()) < rank(&f.get_info()));
                if better {
                    found = Some((instance, adapter));
                }
            }
            if found.is_some() {
                break;
            }
        }
        let (instance, adapter) =
            found.ok_or(RenderError::NoAdapter { backends: format!("{requested:?}") })?;
        Self::from_adapter(instance, adapter)
    }

    /// A device on the best adapter that can present to `surface` (made from `instance`).
    #[cfg(not(target_family = "wasm"))]
    pub fn for_surface(
        instance: wgpu::Instance,
        surface: &wgpu::Surface<'_>,
    ) -> Result<Self, RenderError> {
        pollster::block_on(Self::for_surface_async(instance, surface))
    }

    /// [`RenderContext::for_surface`], awaited: the browser cannot block its only thread on the
    /// adapter and device.
    pub async fn for_surface_async(
        instance: wgpu::Instance,
        surface: &wgpu::Surface<'_>,
    ) -> Result<Self, RenderError> {
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: Some(surface),
                apply_limit_buckets: false,
            })
            .await
            .map_err(|_| RenderError::NoAdapter {
                backends: "any that can draw to this window".into(),
            })?;
        Self::from_adapter_async(instance, adapter).await
    }

    #[cfg(not(target_family = "wasm"))]
    fn from_adapter(instance: wgpu::Instance, adapter: wgpu::Adapter) -> Result<Self, RenderError> {
        pollster::block_on(Self::from_adapter_async(instance, adapter))
    }

    async fn from_adapter_async(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
    ) -> Result<Self, RenderError> {
        let adapter_info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("dreamlens"),
                required_features: wgpu::Features::empty(),
                required_limits: wgpu::Limits::downlevel_defaults()
                    .using_resolution(adapter.limits()),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|cause| RenderError::Device { adapter: adapter_info.name.clone(), cause })?;
        let uncaptured = Arc::new(Mutex::new(None::<String>));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            tracing::error!("GPU error: {error}");
            if let Ok(mut first) = sink.lock() {
                first.get_or_insert_with(|| error.to_string());
            }
        }));
        Ok(Self { device, queue, adapter_info, instance, adapter, uncaptured })
    }

    /// The first GPU error since the last call, as an error; `Ok` when the GPU accepted
    /// everything. Callers check after submitting a frame's work.
    pub fn check_errors(&self) -> Result<(), RenderError> {
        let taken = self.uncaptured.lock().map(|mut first| first.take());
        match taken {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(RenderError::Gpu(error)),
            Err(_) => Err(RenderError::Gpu("the GPU error record was poisoned".into())),
        }
    }

    /// Refuses a picture this adapter cannot hold in one texture, before anything is created.
    pub fn check_size(&self, width: u32, height: u32) -> Result<(), RenderError> {
        let max = self.device.limits().max_texture_dimension_2d;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(RenderError::TooLarge { width, height, max });
        }
        Ok(())
    }

    /// Blocks until the GPU has finished all submitted work (benchmarks, shutdown).
    pub fn wait_idle(&self) -> Result<(), RenderError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(drop)
            .map_err(|cause| ReadbackFailure::Poll { cause }.into())
    }

    /// True when the adapter renders on the CPU.
    pub fn is_software(&self) -> bool {
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    /// How a pass that covers its whole target starts. A software rasteriser would clear by
    /// writing every pixel once more, so it keeps the old contents (which the pass overwrites);
    /// a GPU clears for free, and a tiler that kept them would read the old picture back.
    pub fn fullscreen_load(&self) -> wgpu::LoadOp<wgpu::Color> {
        if self.is_software() {
            wgpu::LoadOp::Load
        } else {
            wgpu::LoadOp::Clear(wgpu::Color::BLACK)
        }
    }
}
