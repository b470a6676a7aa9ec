//! The dreamlens phone app: `android_main` runs the same live app as the desktop
//! (`dreamlens::app::LiveApp`) on a winit event loop bound to the NativeActivity, with the
//! phone's side of each platform seam: Camera2 frames (upright for the display's rotation, read
//! through JNI by `display.rs`), AAudio sound encoded to AAC and H.264
//! by MediaCodec, the app's internal storage for settings and models (installed from the APK's
//! assets), the shared media folder for clips and snapshots, logs in logcat, and ONNX Runtime's
//! Android library packaged in the APK by the Gradle build.
//!
//! Verified on the development machine: `scripts/build-apk.sh` links this crate against stub
//! platform libraries at the minSdk and packages a signed APK (without ONNX Runtime). Running it
//! needs a phone; see the README.

mod camera2;
mod display;
mod fatal_screen;
mod logcat;
mod media_codec;
mod media_folder;
mod media_store;
mod microphone;
mod permissions;

use std::{ffi::CString, sync::Arc};

// Linked for its `_Unwind_*` functions, which std calls for backtraces.
use unwinding as _;

use dreamlens::{
    app::{LiveApp, LiveOptions},
    capture::CameraRequest,
    inference::{SessionOptions, runtime},
    platform::{Folders, Gallery, Platform},
    store::{Manifest, ModelStore, PackagedFile},
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

/// Copies the models the presets need from the APK's assets (`assets/models/`, laid out as the
/// manifest names them) into the cache on first start, checking each against the manifest.
fn install_packaged_models(app: &AndroidApp, store: &ModelStore) {
    let assets = app.asset_manager();
    let fates = store.install_packaged("the APK", |path| {
        CString::new(format!("models/{path}")).ok().and_then(|name| assets.open(&name))
    });
    for (path, fate) in fates {
        match fate {
            PackagedFile::AlreadyCached => {}
            PackagedFile::Installed => tracing::info!("installed {path} from the APK"),
            PackagedFile::NotPackaged => tracing::warn!("the APK does not hold {path}"),
            PackagedFile::Refused(error) => tracing::error!("{error}"),
        }
    }
}

/// Entry point called by android-activity's NativeActivity glue on the app's main thread.
#[unsafe(no_mangle)]
fn android_main(app: AndroidApp) {
    tracing_subscriber::fmt().with_ansi(false).without_time().with_writer(logcat::Logcat).init();
    if let Err(error) = run(app.clone()) {
        tracing::error!("dreamlens stopped: {error:#}");
        fatal_screen::show(&app, &format!("{error:#}"));
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
    if let Err(error) = runtime::load_bundled(ORT_LIBRARY) {
        // An APK built without ONNX Runtime (scripts/build-apk.sh) still runs the camera and
        // the filters; each model layer says on screen why it is off.
        tracing::error!("{error}");
    }
    let store = ModelStore::new(Manifest::builtin(), folders.models.clone(), Vec::new());
    install_packaged_models(&app, &store);
    // Clips and snapshots stay in the media folder where MediaStore cannot take them.
    let gallery = match media_store::MediaStoreGallery::new(&app) {
        Ok(gallery) => gallery.map(|g| Arc::new(g) as Arc<dyn Gallery>),
        Err(error) => {
            tracing::warn!("no gallery ({error:#}); clips stay in {}", folders.outputs.display());
            None
        }
    };
    let platform = Platform {
        name: "android",
        cameras: Arc::new(camera2::Camera2Cameras::new(app.clone())?),
        microphones: Arc::new(microphone::AAudioMicrophones),
        video_encoders: Arc::new(media_codec::MediaCodecEncoders),
        folders,
        gallery,
    };
    let options = LiveOptions { camera: CAMERA, model_every: 1, ..LiveOptions::default() };
    let event_loop = EventLoop::builder().with_android_app(app).build()?;
    let mut live = LiveApp::new(store, SessionOptions::default(), options, platform)?;
    event_loop.run_app(&mut live)?;
    Ok(live.finish()?)
}
