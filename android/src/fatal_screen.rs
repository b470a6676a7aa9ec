//! The last screen: what stopped the app, written into the activity's window on the CPU, so it
//! shows even when the GPU is what failed. It stays until the user leaves the app (the back
//! gesture, which the system handles).

use std::time::Duration;

use dreamlens::controls::message_picture;
use ndk::{hardware_buffer_format::HardwareBufferFormat, native_window::NativeWindow};
use winit::platform::android::activity::{
    AndroidApp, InputStatus, MainEvent, PollEvent, input::InputEvent,
};

/// Android's baseline density: one point is one pixel at 160 dpi.
const BASELINE_DPI: f32 = 160.0;

/// Shows `message` until the activity is destroyed.
pub fn show(app: &AndroidApp, message: &str) {
    let text = format!("dreamlens stopped\n\n{message}\n\nDetails: adb logcat -s dreamlens");
    let mut destroyed = false;
    while !destroyed {
        app.poll_events(Some(Duration::from_secs(1)), |event| match event {
            PollEvent::Main(
                MainEvent::InitWindow { .. }
                | MainEvent::WindowResized { .. }
                | MainEvent::RedrawNeeded { .. },
            ) => {
                if let Some(window) = app.native_window() {
                    let density = app.config().density().map_or(1.0, |d| d as f32 / BASELINE_DPI);
                    if let Err(error) = draw(&window, &text, density) {
                        tracing::error!("cannot show the error on screen: {error}");
                    }
                }
            }
            // Unread input would make the system call the app unresponsive; none is used here.
            PollEvent::Main(MainEvent::InputAvailable) => drain_input(app),
            PollEvent::Main(MainEvent::Destroy) => destroyed = true,
            _ => {}
        });
    }
}

fn drain_input(app: &AndroidApp) {
    if let Ok(mut events) = app.input_events_iter() {
        while events.next(|_: &InputEvent| InputStatus::Unhandled) {}
    }
}

fn draw(window: &NativeWindow, text: &str, density: f32) -> std::io::Result<()> {
    window.set_buffers_geometry(0, 0, Some(HardwareBufferFormat::R8G8B8A8_UNORM))?;
    let mut buffer = window.lock(None)?;
    let (width, height) = (buffer.width() as u32, buffer.height() as u32);
    let picture = message_picture(text, width, height, density);
    let Some(lines) = buffer.lines() else {
        return Err(std::io::Error::other("the window's buffer is not 8-bit RGBA"));
    };
    for (line, row) in lines.zip(picture.rows()) {
        for (pixel, source) in line.chunks_exact_mut(4).zip(row) {
            for (byte, value) in pixel.iter_mut().zip(source.0) {
                byte.write(value);
            }
        }
    }
    Ok(())
}
