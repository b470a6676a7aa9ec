//! The phone's gallery through MediaStore (API 29 and newer): a finished clip goes to
//! `Movies/dreamlens`, a snapshot to `Pictures/dreamlens`, where every gallery app shows them.
//! Files are recorded into the app's shared media folder first (`media_folder.rs`), so a clip
//! being written survives the app being killed; only a finished one is copied in, marked
//! pending until it is whole, and then removed from the media folder. Older phones keep files
//! in the media folder, which their media scanner indexes.

use std::{error::Error, fs::File, io::Read, path::Path};

use dreamlens::platform::{Gallery, MediaKind};
use jni::{
    JNIEnv, JavaVM,
    objects::{JObject, JValue},
};
use winit::platform::android::activity::AndroidApp;

/// The first API level with MediaStore's relative paths and pending items.
const MEDIA_STORE_API: i32 = 29;
/// Bytes copied per Java call.
const CHUNK: usize = 1 << 20;

/// MediaStore's collections, through the activity's content resolver.
pub struct MediaStoreGallery {
    app: AndroidApp,
}

impl MediaStoreGallery {
    /// The gallery where the phone has MediaStore's relative paths; `None` on older phones.
    pub fn new(app: &AndroidApp) -> anyhow::Result<Option<Self>> {
        let api = with_env(app, |env| {
            Ok(env.get_static_field("android/os/Build$VERSION", "SDK_INT", "I")?.i()?)
        })?;
        Ok((api >= MEDIA_STORE_API).then(|| Self { app: app.clone() }))
    }
}

impl Gallery for MediaStoreGallery {
    fn publish(
        &self,
        file: &Path,
        kind: MediaKind,
    ) -> Result<String, Box<dyn Error + Send + Sync>> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no file name", file.display()))?
            .to_owned();
        let (collection, folder, mime) = match kind {
            MediaKind::Video => {
                ("android/provider/MediaStore$Video$Media", "Movies/dreamlens", "video/mp4")
            }
            MediaKind::Picture => {
                ("android/provider/MediaStore$Images$Media", "Pictures/dreamlens", "image/png")
            }
        };
        let mut source = File::open(file)?;
        with_env(&self.app, |env| {
            // SAFETY: android-activity's global reference to the activity, valid while the app
            // runs; borrowed here, never deleted.
            let activity = unsafe { JObject::from_raw(self.app.activity_as_ptr().cast()) };
            env.with_local_frame(32, |env| {
                copy_in(env, &activity, &mut source, Item { collection, folder, mime, name: &name })
            })
        })?;
        std::fs::remove_file(file)?;
        Ok(format!("{folder}/{name}"))
    }
}

/// One new gallery item.
struct Item<'a> {
    collection: &'a str,
    folder: &'a str,
    mime: &'a str,
    name: &'a str,
}

/// Inserts a pending item, copies `source` into it and publishes it; a failed copy removes the
/// item again, so the gallery never shows half a file.
fn copy_in(
    env: &mut JNIEnv,
    activity: &JObject,
    source: &mut File,
    item: Item,
) -> anyhow::Result<()> {
    let resolver = env
        .call_method(activity, "getContentResolver", "()Landroid/content/ContentResolver;", &[])?
        .l()?;
    let volume = env.new_string("external_primary")?;
    let collection = env
        .call_static_method(
            item.collection,
            "getContentUri",
            "(Ljava/lang/String;)Landroid/net/Uri;",
            &[JValue::Object(&volume)],
        )?
        .l()?;
    let values = env.new_object("android/content/ContentValues", "()V", &[])?;
    put_string(env, &values, "_display_name", item.name)?;
    put_string(env, &values, "mime_type", item.mime)?;
    put_string(env, &values, "relative_path", item.folder)?;
    put_int(env, &values, "is_pending", 1)?;
    let uri = env
        .call_method(
            &resolver,
            "insert",
            "(Landroid/net/Uri;Landroid/content/ContentValues;)Landroid/net/Uri;",
            &[JValue::Object(&collection), JValue::Object(&values)],
        )?
        .l()?;
    if uri.is_null() {
        anyhow::bail!("MediaStore refused a new item in {}", item.folder);
    }
    let copied = write_into(env, &resolver, &uri, source).and_then(|()| {
        env.call_method(&values, "clear", "()V", &[])?;
        put_int(env, &values, "is_pending", 0)?;
        let none = JObject::null();
        env.call_method(
            &resolver,
            "update",
            "(Landroid/net/Uri;Landroid/content/ContentValues;Ljava/lang/String;[Ljava/lang/String;)I",
            &[JValue::Object(&uri), JValue::Object(&values), JValue::Object(&none), JValue::Object(&none)],
        )?;
        Ok(())
    });
    if copied.is_err() {
        clear_exception(env);
        let none = JObject::null();
        let _ = env.call_method(
            &resolver,
            "delete",
            "(Landroid/net/Uri;Ljava/lang/String;[Ljava/lang/String;)I",
            &[JValue::Object(&uri), JValue::Object(&none), JValue::Object(&none)],
        );
        clear_exception(env);
    }
    copied
}

/// Copies `source` into the item at `uri`, a megabyte per Java call.
fn write_into(
    env: &mut JNIEnv,
    resolver: &JObject,
    uri: &JObject,
    source: &mut File,
) -> anyhow::Result<()> {
    let stream = env
        .call_method(
            resolver,
            "openOutputStream",
            "(Landroid/net/Uri;)Ljava/io/OutputStream;",
            &[JValue::Object(uri)],
        )?
        .l()?;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = source.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        let bytes = env.byte_array_from_slice(&buffer[..read])?;
        env.call_method(&stream, "write", "([B)V", &[JValue::Object(&bytes)])?;
        env.delete_local_ref(bytes)?;
    }
    env.call_method(&stream, "close", "()V", &[])?;
    Ok(())
}

fn put_string(env: &mut JNIEnv, values: &JObject, key: &str, value: &str) -> anyhow::Result<()> {
    let (key, value) = (env.new_string(key)?, env.new_string(value)?);
    env.call_method(
        values,
        "put",
        "(Ljava/lang/String;Ljava/lang/String;)V",
        &[JValue::Object(&key), JValue::Object(&value)],
    )?;
    Ok(())
}

fn put_int(env: &mut JNIEnv, values: &JObject, key: &str, value: i32) -> anyhow::Result<()> {
    let key = env.new_string(key)?;
    let boxed = env
        .call_static_method(
            "java/lang/Integer",
            "valueOf",
            "(I)Ljava/lang/Integer;",
            &[JValue::Int(value)],
        )?
        .l()?;
    env.call_method(
        values,
        "put",
        "(Ljava/lang/String;Ljava/lang/Integer;)V",
        &[JValue::Object(&key), JValue::Object(&boxed)],
    )?;
    Ok(())
}

/// A Java exception left pending would fail every later call on this thread.
fn clear_exception(env: &mut JNIEnv) {
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_clear();
    }
}

/// Runs `work` with this thread attached to the app's Java VM; a Java exception becomes the
/// error, with the exception cleared.
fn with_env<T>(
    app: &AndroidApp,
    work: impl FnOnce(&mut JNIEnv) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    // SAFETY: android-activity hands out the process's JavaVM, valid while the app runs.
    let vm = unsafe { JavaVM::from_raw(app.vm_as_ptr().cast()) }?;
    let mut env = vm.attach_current_thread()?;
    let result = work(&mut env);
    if result.is_err() {
        clear_exception(&mut env);
    }
    result
}
