//! Runtime permissions through JNI: the NativeActivity asks for what is missing. The answer
//! comes later; until the camera is granted, opening it fails and the capture thread retries
//! with a banner, so the picture appears as soon as the user allows it.

use jni::{JavaVM, objects::JObject};
use winit::platform::android::activity::AndroidApp;

/// `Manifest.permission.CAMERA`.
pub const CAMERA: &str = "android.permission.CAMERA";
/// `Manifest.permission.RECORD_AUDIO`.
pub const RECORD_AUDIO: &str = "android.permission.RECORD_AUDIO";

/// `PackageManager.PERMISSION_GRANTED`.
const GRANTED: i32 = 0;
/// Identifies our request in `onRequestPermissionsResult` (which the app does not need).
const REQUEST_CODE: i32 = 1;

/// Asks the user for each of `permissions` not granted yet (without waiting for the answer).
pub fn request(app: &AndroidApp, permissions: &[&str]) -> anyhow::Result<()> {
    // SAFETY: android-activity hands out the process's JavaVM and the activity's global
    // reference, both valid for as long as the app runs.
    let vm = unsafe { JavaVM::from_raw(app.vm_as_ptr().cast()) }?;
    let mut env = vm.attach_current_thread()?;
    // SAFETY: as above; the reference is borrowed, never deleted here.
    let activity = unsafe { JObject::from_raw(app.activity_as_ptr().cast()) };
    let mut missing = Vec::new();
    for &permission in permissions {
        let name = env.new_string(permission)?;
        let state = env
            .call_method(
                &activity,
                "checkSelfPermission",
                "(Ljava/lang/String;)I",
                &[(&name).into()],
            )?
            .i()?;
        if state != GRANTED {
            missing.push(name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names = env.new_object_array(missing.len() as i32, "java/lang/String", JObject::null())?;
    for (index, name) in missing.iter().enumerate() {
        env.set_object_array_element(&names, index as i32, name)?;
    }
    env.call_method(
        &activity,
        "requestPermissions",
        "([Ljava/lang/String;I)V",
        &[(&names).into(), REQUEST_CODE.into()],
    )?;
    Ok(())
}
