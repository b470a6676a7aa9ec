//! The dreamlens phone app: `android_main` runs the same live app as the desktop
//! (`dreamlens::app::LiveApp`) on a winit event loop bound to the NativeActivity, with the
//! phone's side of each platform seam: Camera2 frames, AAudio sound encoded to AAC and H.264
//! by MediaCodec, the app's internal storage for settings and models, the shared media folder for
//! clips and snapshots, logs in logcat, and ONNX Runtime's Android library packaged in the APK.
//!
//! Verified on the development machine: this crate type-checks for `aarch64-linux-android`
//! against the real NDK bindings (`scripts/check-android.sh`). Linking and running need the
//! NDK and a phone; see the README.

mod camera2;
mod logcat;
mod media_codec;
mod media_folder;
mod microphone;
mod permissions;

use std::sync::Arc;

// Linked for its `_Unwind_*` functions, which std calls for backtraces.
use unwinding as _;

use dreamlens::{
    app::{LiveApp, LiveOptions},
    capture::CameraRequest,
    inference::{SessionOptions, runtime},
    platform::{Folders, Platform},
    store::{Manifest, ModelStore},
};
use winit::{
    event_loop::EventLoop,
    platform::android::{EventLoopBuilderExtAndroid, activity::AndroidApp},
};

/// ONNX Runtime's library as the onnxruntime-android package puts it in the APK; the loader
/// finds it in the app's native library folder by name.
const ORT_LIBRARY: &str = "libonnxruntime.so";

/// The phone's preview size and rate: what the models and the screen need, not the sensor's
/// full resolution.
const CAMERA: CameraRequest = CameraRequest { index: 0, size: Some((1280, 720)), fps: Some(30) };

/// Entry point called by android-activity's NativeActivity glue on the app's main thread.
#[unsafe(no_mangle)]
fn android_main(app: AndroidApp) {
    tracing_subscriber::fmt().with_ansi(false).without_time().with_writer(logcat::Logcat).init();
    if let Err(error) = run(app) {
        tracing::error!("dreamlens stopped: {error:#}");
    }
}

fn run(app: AndroidApp) -> anyhow::Result<()> {
    permissions::request(&app, &[permissions::CAMERA, permissions::RECORD_AUDIO])?;
    let storage = app
        .internal_data_path()
        .ok_or_else(|| anyhow::anyhow!("Android gave the app no internal storage folder"))?;
    let mut folders = Folders::under(&storage);
    match media_folder::media_folder(&app) {
        Ok(media) => folders.outputs = media,
        // Still saved, in the app's own storage, and said where.
        Err(error) => tracing::warn!(
            "{error:#}; recordings and snapshots go to {}",
            folders.outputs.display()
        ),
    }
    runtime::load_bundled(ORT_LIBRARY)?;
    // Models are found in the cache or in `mirror/` (adb push on a debuggable build); the app
    // downloads none yet.
    let mirror = storage.join("mirror");
    let store = ModelStore::new(Manifest::builtin(), folders.models.clone(), vec![mirror]);
    let platform = Platform {
        name: "android",
        cameras: Arc::new(camera2::Camera2Cameras::new()?),
        microphones: Arc::new(microphone::AAudioMicrophones),
        video_encoders: Arc::new(media_codec::MediaCodecEncoders),
        folders,
    };
    let options = LiveOptions { camera: CAMERA, model_every: 1, ..LiveOptions::default() };
    let event_loop = EventLoop::builder().with_android_app(app).build()?;
    let mut live = LiveApp::new(store, SessionOptions::default(), options, platform)?;
    event_loop.run_app(&mut live)?;
    live.finish()
}
