//! The GPU device: one adapter, device and queue, usable without a window (offscreen textures
//! and readback) and, later, with a window surface.

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
    #[error("GPU adapter {adapter} could not create a device: {reason}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's reason.
        reason: String,
    },
    /// Reading a rendered picture back failed.
    #[error("reading the rendered frame back from the GPU failed: {0}")]
    Readback(String),
    /// The effect stack cannot be built as asked.
    #[error("{0}")]
    Setup(String),
}

/// A device and queue on the best adapter available.
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
    pub fn for_surface(
        instance: wgpu::Instance,
        surface: &wgpu::Surface<'_>,
    ) -> Result<Self, RenderError> {
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: Some(surface),
            apply_limit_buckets: false,
        }))
        .map_err(|_| RenderError::NoAdapter {
            backends: "any that can draw to this window".into(),
        })?;
        Self::from_adapter(instance, adapter)
    }

    fn from_adapter(instance: wgpu::Instance, adapter: wgpu::Adapter) -> Result<Self, RenderError> {
        let adapter_info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("dreamlens"),
            required_features: wgpu::Features::empty(),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| RenderError::Device {
            adapter: adapter_info.name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self { device, queue, adapter_info, instance, adapter })
    }

    /// Blocks until the GPU has finished all submitted work (benchmarks, shutdown).
    pub fn wait_idle(&self) -> Result<(), RenderError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(drop)
            .map_err(|e| RenderError::Readback(e.to_string()))
    }

    /// True when the adapter renders on the CPU.
    pub fn is_software(&self) -> bool {
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }
}
