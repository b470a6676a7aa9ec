//! Putting pictures on screen: a blit of a texture into a rectangle of a target, used to
//! letterbox the edited picture in the window, to copy the finished window image to the
//! surface, and to keep a clip's shape when the picture turns (`Letterbox`).

use std::collections::HashMap;

use super::{
    bindings::{
        Target, draw_fullscreen, fullscreen_pipeline, sampler_entry, target, texture_entry,
        uniform_entry,
    },
    context::RenderContext,
    shaders,
};

/// Blit pipelines per target format, built on first use.
pub struct Presenter {
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    source: String,
    /// One uniform buffer per target rectangle, made once: a frame draws into two rectangles
    /// (the picture into the window image, that image onto the surface), which change only
    /// with the layout.
    rects: HashMap<[u32; 4], wgpu::Buffer>,
}

/// Rectangles kept before the oldest layouts' buffers are dropped (a window being resized
/// makes a new one every frame).
const KEPT_RECTS: usize = 8;

impl std::fmt::Debug for Presenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presenter").finish_non_exhaustive()
    }
}

/// Where a `source_size` picture sits, letterboxed, in the part `area` (`[x0, y0, x1, y1]`, 0..1)
/// of a `target_size` screen: the area the controls leave free. 0..1 screen coordinates of
/// edges on whole pixels, so the picture is not resampled half a pixel off (which blurs thin
/// lines).
pub fn fit_rect_within(
    source_size: (u32, u32),
    target_size: (u32, u32),
    area: [f32; 4],
) -> [f32; 4] {
    let (sw, sh) = (source_size.0.max(1) as f32, source_size.1.max(1) as f32);
    let (tw, th) = (target_size.0.max(1) as f32, target_size.1.max(1) as f32);
    let (ax, ay) = (area[0] * tw, area[1] * th);
    let (aw, ah) = (((area[2] - area[0]) * tw).max(0.0), ((area[3] - area[1]) * th).max(0.0));
    let scale = (aw / sw).min(ah / sh);
    let (w, h) = ((sw * scale).round(), (sh * scale).round());
    let (x, y) = ((ax + (aw - w) / 2.0).round(), (ay + (ah - h) / 2.0).round());
    [x / tw, y / th, (x + w) / tw, (y + h) / th]
}

impl Presenter {
    /// Prepares the shader; pipelines follow per target format.
    pub fn new(context: &RenderContext) -> Self {
        let device = &context.device;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("present"),
            entries: &[
                uniform_entry(0),
                texture_entry(
                    1,
                    wgpu::TextureSampleType::Float { filterable: true },
                    wgpu::TextureViewDimension::D2,
                ),
                sampler_entry(2),
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("present"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            layout,
            sampler,
            pipelines: HashMap::new(),
            source: shaders::standalone("present"),
            rects: HashMap::new(),
        }
    }

    fn pipeline(
        &mut self,
        context: &RenderContext,
        format: wgpu::TextureFormat,
    ) -> &wgpu::RenderPipeline {
        self.pipelines.entry(format).or_insert_with(|| {
            fullscreen_pipeline(
                &context.device,
                "present",
                &self.layout,
                &self.source,
                "fs_main",
                &[Some(format.into())],
                &[],
            )
        })
    }

    /// Draws `source` into `rect` (0..1 coordinates) of `target`, clearing the rest.
    pub fn blit(
        &mut self,
        context: &RenderContext,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::TextureView,
        target: &wgpu::TextureView,
        target_format: wgpu::TextureFormat,
        rect: [f32; 4],
    ) {
        use wgpu::util::DeviceExt as _;
        let key = rect.map(f32::to_bits);
        if !self.rects.contains_key(&key) && self.rects.len() >= KEPT_RECTS {
            self.rects.clear();
        }
        let uniform = self.rects.entry(key).or_insert_with(|| {
            context.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("present rect"),
                contents: bytemuck::cast_slice(&rect),
                usage: wgpu::BufferUsages::UNIFORM,
            })
        });
        let group = context.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("present"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(source),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        let pipeline = self.pipeline(context, target_format).clone();
        draw_fullscreen(encoder, context, "present", &[target], &pipeline, &group);
    }
}

/// A picture of one fixed shape: pictures of another shape (the phone turned, the camera
/// changed mode) are letterboxed into it, so a clip keeps the shape it started with.
pub struct Letterbox {
    size: (u32, u32),
    /// Made on the first picture of another shape.
    target: Option<Target>,
}

impl Letterbox {
    /// Keeps pictures at `size`.
    pub fn new(size: (u32, u32)) -> Self {
        Self { size, target: None }
    }

    /// `picture` itself when it has the shape; else `picture` letterboxed by `presenter` into
    /// a texture of the shape (RGBA8, like the compositor's output), drawn before anything
    /// submitted after this call.
    pub fn fit<'a>(
        &'a mut self,
        context: &RenderContext,
        presenter: &mut Presenter,
        picture: &'a wgpu::Texture,
    ) -> &'a wgpu::Texture {
        let shape = (picture.size().width, picture.size().height);
        if shape == self.size {
            return picture;
        }
        let format = wgpu::TextureFormat::Rgba8Unorm;
        let usage = wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC;
        let size = self.size;
        let fitted = self
            .target
            .get_or_insert_with(|| target(&context.device, "letterbox", size, format, usage));
        let rect = fit_rect_within(shape, size, [0.0, 0.0, 1.0, 1.0]);
        let source = picture.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("letterbox") });
        presenter.blit(context, &mut encoder, &source, &fitted.view, format, rect);
        context.queue.submit([encoder.finish()]);
        &fitted.texture
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_letterboxed_not_stretched() {
        let whole = [0.0, 0.0, 1.0, 1.0];
        assert_eq!(fit_rect_within((1280, 720), (1280, 720), whole), whole);
        let r = fit_rect_within((1280, 720), (1280, 1440), whole);
        assert!((r[1] - 0.25).abs() < 1e-6 && (r[3] - 0.75).abs() < 1e-6 && r[0] == 0.0);
    }

    #[test]
    fn a_picture_beside_a_panel_fills_the_free_area_only() {
        // A 1280x720 window whose left 320 px hold the controls: the 960x720 area left holds a
        // 960x540 picture, centred vertically, starting right of the panel.
        let r = fit_rect_within((1280, 720), (1280, 720), [0.25, 0.0, 1.0, 1.0]);
        let expected = [0.25, 90.0 / 720.0, 1.0, 630.0 / 720.0];
        for (got, want) in r.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{r:?} != {expected:?}");
        }
    }

    #[test]
    fn the_picture_edges_land_on_whole_pixels() {
        // A panel 286.4 px wide and a banner 30.6 px tall: the picture starts on a pixel edge.
        let area = [286.4 / 800.0, 30.6 / 512.0, 1.0, 1.0];
        let r = fit_rect_within((512, 512), (800, 512), area);
        for (edge, size) in r.iter().zip([800.0f32, 512.0, 800.0, 512.0]) {
            let px = edge * size;
            assert!((px - px.round()).abs() < 1e-3, "an edge at {px} px: {r:?}");
        }
        // Still square and inside the free area.
        let (w, h) = ((r[2] - r[0]) * 800.0, (r[3] - r[1]) * 512.0);
        assert!((w - h).abs() < 1e-3 && r[0] >= area[0] - 1e-6, "{r:?}");
    }
}
