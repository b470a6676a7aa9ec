//! The display's rotation, read through JNI: the camera turns its frames upright for the way
//! the phone is held now, so the picture stays upright when the phone turns.

use std::time::{Duration, Instant};

use jni::{JNIEnv, JavaVM, objects::JObject};
use winit::platform::android::activity::AndroidApp;

/// How often the rotation is read again: a turn shows upright within this time, and the JNI
/// calls stay off most frames.
const RECHECK: Duration = Duration::from_millis(300);

/// The display's rotation as the capture thread reads it.
pub struct DisplayRotation {
    app: AndroidApp,
    degrees: i32,
    checked: Option<Instant>,
}

impl DisplayRotation {
    /// The rotation of `app`'s display.
    pub fn new(app: AndroidApp) -> Self {
        Self { app, degrees: 0, checked: None }
    }

    /// The display's rotation in degrees (0, 90, 180 or 270), read again at most every
    /// [`RECHECK`]. A failed read keeps the last value and is logged once per failure run.
    pub fn degrees(&mut self) -> i32 {
        if self.checked.is_some_and(|at| at.elapsed() < RECHECK) {
            return self.degrees;
        }
        let first_failure = self.checked.is_some();
        self.checked = Some(Instant::now());
        match read_degrees(&self.app) {
            Ok(degrees) => self.degrees = degrees,
            Err(error) if first_failure => {
                tracing::warn!("cannot read the display's rotation: {error}");
            }
            Err(_) => {}
        }
        self.degrees
    }
}

/// `Activity.getWindowManager().getDefaultDisplay().getRotation()` in degrees. The calling
/// thread stays attached to the VM (it reads again and again); the local references go with
/// their frame.
fn read_degrees(app: &AndroidApp) -> jni::errors::Result<i32> {
    // SAFETY: android-activity hands out the process's JavaVM and the activity's global
    // reference, both valid for as long as the app runs.
    let vm = unsafe { JavaVM::from_raw(app.vm_as_ptr().cast()) }?;
    let mut env = vm.attach_current_thread_permanently()?;
    env.with_local_frame(4, |env: &mut JNIEnv| {
        // SAFETY: as above; the reference is borrowed, never deleted here.
        let activity = unsafe { JObject::from_raw(app.activity_as_ptr().cast()) };
        let manager = env
            .call_method(&activity, "getWindowManager", "()Landroid/view/WindowManager;", &[])?
            .l()?;
        let display =
            env.call_method(&manager, "getDefaultDisplay", "()Landroid/view/Display;", &[])?.l()?;
        // Surface.ROTATION_0 .. ROTATION_270 are 0 .. 3.
        let quarter_turns = env.call_method(&display, "getRotation", "()I", &[])?.i()?;
        Ok(quarter_turns.rem_euclid(4) * 90)
    })
}
