//! Copying rendered textures back to the CPU (headless output, tests, snapshots).

use super::context::{ReadbackFailure, RenderContext, RenderError};

/// Blocking readbacks that keep their staging buffer for the next read of the same size: a
/// renderer reading every frame back would otherwise make a buffer per frame.
#[derive(Default)]
pub struct Reader {
    staging: std::sync::Mutex<Option<(u64, wgpu::Buffer)>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    /// Copies `texture` into the staging buffer and waits for its bytes, rows unpadded.
    pub fn read_texture(
        &self,
        context: &RenderContext,
        texture: &wgpu::Texture,
    ) -> Result<Vec<u8>, RenderError> {
        let size = texture.size();
        let bytes_per_pixel = texture
            .format()
            .block_copy_size(None)
            .ok_or_else(|| RenderError::from(ReadbackFailure::Format(texture.format())))?;
        let row = size.width * bytes_per_pixel;
        let padded_row =
            row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let length = u64::from(padded_row) * u64::from(size.height);
        let kept = self.staging.lock().ok().and_then(|mut kept| kept.take());
        let buffer = match kept {
            Some((kept_length, buffer)) if kept_length == length => buffer,
            _ => context.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: length,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            }),
        };
        let mut encoder = context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row),
                    rows_per_image: Some(size.height),
                },
            },
            wgpu::Extent3d { width: size.width, height: size.height, depth_or_array_layers: 1 },
        );
        context.queue.submit([encoder.finish()]);
        context.check_errors()?;
        let slice = buffer.slice(..);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        context
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|cause| ReadbackFailure::Poll { cause })?;
        receiver
            .recv()
            .map_err(|_| ReadbackFailure::Dropped)?
            .map_err(|cause| ReadbackFailure::Map { cause })?;
        let mapped = slice.get_mapped_range().map_err(|cause| ReadbackFailure::View { cause })?;
        let mut out = Vec::with_capacity((row * size.height) as usize);
        for chunk in mapped.chunks(padded_row as usize) {
            out.extend_from_slice(&chunk[..row as usize]);
        }
        drop(mapped);
        buffer.unmap();
        if let Ok(mut kept) = self.staging.lock() {
            *kept = Some((length, buffer));
        }
        Ok(out)
    }

    /// Reads an RGBA8 texture as an image.
    pub fn read_rgba8(
        &self,
        context: &RenderContext,
        texture: &wgpu::Texture,
    ) -> Result<image::RgbaImage, RenderError> {
        let size = texture.size();
        let data = self.read_texture(context, texture)?;
        image::RgbaImage::from_raw(size.width, size.height, data)
            .ok_or(ReadbackFailure::NotFormat("RGBA8").into())
    }
}

/// Copies `texture` into a new staging buffer and waits for its bytes, rows unpadded (for
/// one-off reads; see [`Reader`] for repeated ones).
pub fn read_texture(
    context: &RenderContext,
    texture: &wgpu::Texture,
) -> Result<Vec<u8>, RenderError> {
    Reader::default().read_texture(context, texture)
}

/// Reads an RGBA8 texture as an image.
pub fn read_rgba8(
    context: &RenderContext,
    texture: &wgpu::Texture,
) -> Result<image::RgbaImage, RenderError> {
    let size = texture.size();
    let data = read_texture(context, texture)?;
    image::RgbaImage::from_raw(size.width, size.height, data)
        .ok_or(ReadbackFailure::NotFormat("RGBA8").into())
}

/// Reads an RGBA16F texture as f32 values, four per pixel.
pub fn read_rgba16f(
    context: &RenderContext,
    texture: &wgpu::Texture,
) -> Result<Vec<f32>, RenderError> {
    let data = read_texture(context, texture)?;
    Ok(data.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect())
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = ((bits >> 10) & 0x1f) as i32;
    let mantissa = (bits & 0x3ff) as f32;
    match exponent {
        0 => sign * mantissa * 2f32.powi(-24),
        31 => sign * f32::INFINITY,
        e => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(e - 15),
    }
}

struct Slot<T> {
    buffer: wgpu::Buffer,
    /// Set by the map callback when the copy can be read.
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The frame's tag while a copy is in flight.
    pending: Option<T>,
    /// Submission order, so results come back in order.
    order: u64,
}

/// Asynchronous readback of a stream of same-sized, same-format pictures (RGBA8 frames, R8
/// I420 layouts) through a ring of staging buffers: `submit` queues a copy and returns at once, `collect` hands back the copies that have
/// finished. The render loop never waits; when every buffer is still in flight the frame is
/// dropped and counted.
pub struct ReadbackRing<T> {
    slots: Vec<Slot<T>>,
    width: u32,
    height: u32,
    format: wgpu::TextureFormat,
    row: u32,
    padded_row: u32,
    /// Frames refused because no buffer was free.
    pub dropped: u64,
    submitted: u64,
}

impl<T> std::fmt::Debug for ReadbackRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadbackRing").field("slots", &self.slots.len()).finish_non_exhaustive()
    }
}

impl<T> ReadbackRing<T> {
    /// A ring of `slots` buffers for `width` x `height` pictures of an uncompressed `format`.
    pub fn new(
        context: &RenderContext,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
        slots: usize,
    ) -> Self {
        let row = width * format.block_copy_size(None).unwrap_or(4);
        let padded_row =
            row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let slots = (0..slots.max(1))
            .map(|_| Slot {
                buffer: context.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback ring"),
                    size: u64::from(padded_row) * u64::from(height),
                    usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                    mapped_at_creation: false,
                }),
                ready: std::sync::Arc::default(),
                pending: None,
                order: 0,
            })
            .collect();
        Self { slots, width, height, format, row, padded_row, dropped: 0, submitted: 0 }
    }

    /// Queues a copy of `texture` tagged `tag`; `false` (and a counted drop) when every buffer
    /// is busy or the size or format does not match.
    pub fn submit(&mut self, context: &RenderContext, texture: &wgpu::Texture, tag: T) -> bool {
        let size = texture.size();
        let free = self.slots.iter().position(|s| s.pending.is_none());
        let fits = (size.width, size.height) == (self.width, self.height)
            && texture.format() == self.format;
        let (Some(index), true) = (free, fits) else {
            self.dropped += 1;
            return false;
        };
        let slot = &mut self.slots[index];
        let mut encoder = context.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback ring"),
        });
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &slot.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d { width: self.width, height: self.height, depth_or_array_layers: 1 },
        );
        context.queue.submit([encoder.finish()]);
        let ready = std::sync::Arc::clone(&slot.ready);
        ready.store(false, std::sync::atomic::Ordering::Release);
        slot.buffer.slice(..).map_async(wgpu::MapMode::Read, move |result| {
            if result.is_ok() {
                ready.store(true, std::sync::atomic::Ordering::Release);
            }
        });
        slot.pending = Some(tag);
        slot.order = self.submitted;
        self.submitted += 1;
        true
    }

    /// Copies submitted and not collected yet.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.pending.is_some()).count()
    }

    /// The finished copies as tightly packed rows, oldest first, without waiting.
    pub fn collect(&mut self, context: &RenderContext) -> Vec<(T, Vec<u8>)> {
        let _ = context.device.poll(wgpu::PollType::Poll);
        let row = self.row as usize;
        let mut done = Vec::new();
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        order.sort_by_key(|&i| self.slots[i].order);
        for index in order {
            let slot = &mut self.slots[index];
            if slot.pending.is_none() || !slot.ready.load(std::sync::atomic::Ordering::Acquire) {
                continue;
            }
            let Ok(mapped) = slot.buffer.slice(..).get_mapped_range() else { continue };
            let mut pixels = Vec::with_capacity(row * self.height as usize);
            for chunk in mapped.chunks(self.padded_row as usize) {
                pixels.extend_from_slice(&chunk[..row]);
            }
            drop(mapped);
            slot.buffer.unmap();
            slot.ready.store(false, std::sync::atomic::Ordering::Release);
            if let Some(tag) = slot.pending.take() {
                done.push((tag, pixels));
            }
        }
        done
    }

    /// Waits for every copy in flight (when recording stops).
    pub fn drain(&mut self, context: &RenderContext) -> Vec<(T, Vec<u8>)> {
        let _ = context.device.poll(wgpu::PollType::wait_indefinitely());
        self.collect(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::bindings::target;

    /// One reader reads two pictures of the same size through its one staging buffer, each
    /// exactly (rows that need padding), and a picture of another size through a new one.
    #[test]
    fn a_reader_reuses_its_buffer_and_reads_each_picture_exactly() {
        let context = RenderContext::headless().expect("a GPU adapter (lavapipe in CI)");
        let picture = |size: (u32, u32), seed: u8| {
            let texture = target(
                &context.device,
                "picture",
                size,
                wgpu::TextureFormat::Rgba8Unorm,
                wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::COPY_SRC,
            );
            let bytes: Vec<u8> =
                (0..size.0 * size.1 * 4).map(|i| (i as u8).wrapping_mul(seed)).collect();
            context.queue.write_texture(
                texture.texture.as_image_copy(),
                &bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(size.0 * 4),
                    rows_per_image: Some(size.1),
                },
                wgpu::Extent3d { width: size.0, height: size.1, depth_or_array_layers: 1 },
            );
            (texture, bytes)
        };
        let reader = Reader::default();
        let kept = |reader: &Reader| reader.staging.lock().expect("lock").clone();
        let mut buffers = Vec::new();
        for (size, seed) in [((37, 5), 3), ((37, 5), 7), ((64, 2), 11)] {
            let (texture, bytes) = picture(size, seed);
            assert_eq!(reader.read_texture(&context, &texture.texture).expect("read"), bytes);
            // 37 pixels of 4 bytes pad to 256-byte rows.
            let padded = u64::from(size.0 * 4).div_ceil(256) * 256 * u64::from(size.1);
            let (length, buffer) = kept(&reader).expect("the staging buffer is kept");
            assert_eq!(length, padded);
            buffers.push(buffer);
        }
        assert!(buffers[0] == buffers[1], "the second read of the same size made a new buffer");
        assert!(buffers[1] != buffers[2], "a read of another size reused a buffer too small");
    }
}
