//! Camera frames written straight into GPU-visible memory by the thread that makes them. Without
//! this, the window thread copies every frame (3.7 MB at 1280x720) into a fresh staging buffer
//! through `queue.write_texture`, and that copy was its largest single cost. Here the capture
//! thread converts RGB to RGBA into a buffer that stays mapped between uses, and the window thread
//! only records the buffer-to-texture copy.

use std::sync::{
    Arc, Mutex, Weak,
    atomic::{AtomicBool, Ordering},
};

use image::RgbImage;

/// Buffers one frame size may have: frames alive at once are the one shown, the newest waiting,
/// the one being written and those the model stages still hold.
const MAX_BUFFERS: usize = 8;

/// A buffer back in the pool, mapped again once `mapped` says so.
struct Returned {
    buffer: wgpu::Buffer,
    mapped: Arc<AtomicBool>,
}

#[derive(Default)]
struct Pool {
    device: Option<wgpu::Device>,
    size: (u32, u32),
    free: Vec<Returned>,
    /// Buffers of this size in existence, free or out.
    made: usize,
    /// Counts devices attached, so a frame staged on an earlier one is not taken back.
    generation: u64,
}

/// The shared pool: cloned into the capture thread, armed with the device by the window once it
/// has one.
#[derive(Clone, Default)]
pub struct FrameStaging {
    pool: Arc<Mutex<Pool>>,
}

/// Bytes per row in a staging buffer: a multiple of what buffer-to-texture copies require.
fn padded_row(width: u32) -> u32 {
    (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
}

impl FrameStaging {
    /// Frames are staged on `device` from now on (buffers of an earlier device are dropped).
    pub fn attach(&self, device: &wgpu::Device) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let generation = pool.generation + 1;
        *pool = Pool { device: Some(device.clone()), generation, ..Pool::default() };
    }

    /// `image` as RGBA in a staging buffer, or `None` without a device or while every buffer is
    /// in use (the frame then goes up the ordinary way).
    pub fn stage(&self, image: &RgbImage) -> Option<StagedFrame> {
        let size = image.dimensions();
        let row = padded_row(size.0);
        let (buffer, mapped, generation) = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            let device = pool.device.clone()?;
            if pool.size != size {
                pool.free.clear();
                pool.made = 0;
                pool.size = size;
            }
            let generation = pool.generation;
            match pool.free.iter().position(|r| r.mapped.load(Ordering::Acquire)) {
                Some(index) => {
                    let returned = pool.free.swap_remove(index);
                    (returned.buffer, returned.mapped, generation)
                }
                None if pool.made < MAX_BUFFERS => {
                    pool.made += 1;
                    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("frame staging"),
                        size: u64::from(row) * u64::from(size.1),
                        usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: true,
                    });
                    (buffer, Arc::new(AtomicBool::new(true)), generation)
                }
                None => return None,
            }
        };
        mapped.store(false, Ordering::Release);
        {
            let Ok(mut view) = buffer.slice(..).get_mapped_range_mut() else {
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                pool.made = pool.made.saturating_sub(1);
                return None;
            };
            // Row by row through a small bounce buffer: the mapped memory is written, never read.
            let mut bounce = vec![0u8; size.0 as usize * 4];
            for (y, src) in image.as_raw().chunks_exact(size.0 as usize * 3).enumerate() {
                super::rgb_to_rgba(src, &mut bounce);
                let start = y * row as usize;
                view.slice(start..start + bounce.len()).copy_from_slice(&bounce);
            }
        }
        buffer.unmap();
        Some(StagedFrame {
            buffer,
            mapped,
            size,
            row,
            generation,
            pool: Arc::downgrade(&self.pool),
        })
    }
}

/// One frame in a staging buffer. Dropping it maps the buffer again (once the GPU has read it)
/// and returns it to the pool.
pub struct StagedFrame {
    buffer: wgpu::Buffer,
    mapped: Arc<AtomicBool>,
    size: (u32, u32),
    row: u32,
    generation: u64,
    pool: Weak<Mutex<Pool>>,
}

impl std::fmt::Debug for StagedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedFrame").field("size", &self.size).finish()
    }
}

impl StagedFrame {
    /// Width and height.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Records the copy of this frame into `texture` (of the same size).
    pub(crate) fn copy_to(&self, encoder: &mut wgpu::CommandEncoder, texture: &wgpu::Texture) {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &self.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.row),
                    rows_per_image: Some(self.size.1),
                },
            },
            texture.as_image_copy(),
            wgpu::Extent3d { width: self.size.0, height: self.size.1, depth_or_array_layers: 1 },
        );
    }
}

impl Drop for StagedFrame {
    fn drop(&mut self) {
        let Some(pool) = self.pool.upgrade() else { return };
        let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
        // A buffer of another size or device is dropped with the frame.
        if pool.size != self.size || pool.generation != self.generation {
            return;
        }
        let mapped = Arc::clone(&self.mapped);
        self.buffer.slice(..).map_async(wgpu::MapMode::Write, move |result| {
            mapped.store(result.is_ok(), Ordering::Release);
        });
        pool.free.push(Returned { buffer: self.buffer.clone(), mapped: Arc::clone(&self.mapped) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{RenderContext, bindings::target, readback};

    fn made(staging: &FrameStaging) -> usize {
        staging.pool.lock().expect("not poisoned").made
    }

    /// A frame whose rows need padding goes through a staging buffer into a texture unchanged;
    /// once dropped and read by the GPU its buffer serves the next frame; without a device
    /// nothing is staged.
    #[test]
    fn staged_frames_arrive_whole_and_buffers_come_back() {
        let staging = FrameStaging::default();
        let image = RgbImage::from_fn(100, 7, |x, y| image::Rgb([x as u8, y as u8 * 30, 200]));
        assert!(staging.stage(&image).is_none(), "no device yet");
        let context = RenderContext::headless().expect("a GPU adapter (lavapipe in CI)");
        staging.attach(&context.device);
        let texture = target(
            &context.device,
            "staged",
            (100, 7),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::COPY_SRC,
        );
        for round in 0..3 {
            let staged = staging.stage(&image).expect("a free buffer");
            let mut encoder = context.device.create_command_encoder(&Default::default());
            staged.copy_to(&mut encoder, &texture.texture);
            context.queue.submit([encoder.finish()]);
            let read = readback::read_rgba8(&context, &texture.texture).expect("readback");
            for (x, y, px) in read.enumerate_pixels() {
                let want = image.get_pixel(x, y);
                assert_eq!(px.0, [want[0], want[1], want[2], 255], "round {round} at {x},{y}");
            }
            drop(staged);
            context.wait_idle().expect("idle");
            assert_eq!(made(&staging), 1, "round {round}: the buffer was not reused");
        }
        // Frames alive at once each take a buffer, up to the limit; then none is staged.
        let alive: Vec<_> = (0..MAX_BUFFERS).map(|_| staging.stage(&image)).collect();
        assert!(alive.iter().all(Option::is_some));
        assert!(staging.stage(&image).is_none(), "over the limit");
    }

    #[test]
    fn rows_are_padded_to_the_copy_alignment() {
        assert_eq!(padded_row(1280), 5120);
        assert_eq!(padded_row(1366), 5632);
        assert_eq!(padded_row(1), 256);
    }
}
