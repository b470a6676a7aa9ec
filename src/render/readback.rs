//! Copying rendered textures back to the CPU (headless output, tests, snapshots).

use super::context::{RenderContext, RenderError};

/// Copies a 2D texture into tightly packed rows (waits for the GPU).
pub fn read_texture(
    context: &RenderContext,
    texture: &wgpu::Texture,
) -> Result<Vec<u8>, RenderError> {
    let size = texture.size();
    let bytes_per_pixel = texture.format().block_copy_size(None).ok_or_else(|| {
        RenderError::Readback(format!("format {:?} cannot be copied", texture.format()))
    })?;
    let row = size.width * bytes_per_pixel;
    let padded_row =
        row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let buffer = context.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: u64::from(padded_row) * u64::from(size.height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
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
    let slice = buffer.slice(..);
    let (sender, receiver) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    context
        .device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| RenderError::Readback(e.to_string()))?;
    receiver
        .recv()
        .map_err(|e| RenderError::Readback(e.to_string()))?
        .map_err(|e| RenderError::Readback(e.to_string()))?;
    let mapped = slice.get_mapped_range().map_err(|e| RenderError::Readback(e.to_string()))?;
    let mut out = Vec::with_capacity((row * size.height) as usize);
    for chunk in mapped.chunks(padded_row as usize) {
        out.extend_from_slice(&chunk[..row as usize]);
    }
    drop(mapped);
    buffer.unmap();
    Ok(out)
}

/// Reads an RGBA8 texture as an image.
pub fn read_rgba8(
    context: &RenderContext,
    texture: &wgpu::Texture,
) -> Result<image::RgbaImage, RenderError> {
    let size = texture.size();
    let data = read_texture(context, texture)?;
    image::RgbaImage::from_raw(size.width, size.height, data)
        .ok_or_else(|| RenderError::Readback("texture is not RGBA8".into()))
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
