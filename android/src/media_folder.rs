//! Where the phone's recordings and snapshots go: the app's shared media folder
//! (`Context.getExternalMediaDirs()`, `Android/media/<package>/`). It needs no permission, the
//! media scanner indexes it, so clips appear in the gallery, and they stay when the app is
//! uninstalled. The working folder of a native app is `/`, where nothing can be written.

use std::path::PathBuf;

use jni::{
    JavaVM,
    objects::{JObject, JObjectArray, JString},
};
use winit::platform::android::activity::AndroidApp;

/// The first shared media folder the system gives the app.
pub fn media_folder(app: &AndroidApp) -> anyhow::Result<PathBuf> {
    // SAFETY: android-activity hands out the process's JavaVM and the activity's global
    // reference, both valid for as long as the app runs.
    let vm = unsafe { JavaVM::from_raw(app.vm_as_ptr().cast()) }?;
    let mut env = vm.attach_current_thread()?;
    // SAFETY: as above; the reference is borrowed, never deleted here.
    let activity = unsafe { JObject::from_raw(app.activity_as_ptr().cast()) };
    let dirs = env.call_method(&activity, "getExternalMediaDirs", "()[Ljava/io/File;", &[])?.l()?;
    let dirs = JObjectArray::from(dirs);
    if env.get_array_length(&dirs)? == 0 {
        anyhow::bail!("Android gave the app no shared media folder");
    }
    let first = env.get_object_array_element(&dirs, 0)?;
    if first.is_null() {
        anyhow::bail!("the app's shared media folder is not mounted");
    }
    let path = env.call_method(&first, "getAbsolutePath", "()Ljava/lang/String;", &[])?.l()?;
    let path: String = env.get_string(&JString::from(path))?.into();
    Ok(PathBuf::from(path))
}
