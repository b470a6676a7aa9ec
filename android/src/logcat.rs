//! `tracing` into logcat under the app's tag: Android discards a native app's stdout and
//! stderr, so without this even "dreamlens stopped: ..." would be invisible.

use std::{
    ffi::{CStr, CString},
    io,
};

use ndk_sys::android_LogPriority as Priority;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The tag `adb logcat -s dreamlens` shows.
const TAG: &CStr = c"dreamlens";

// liblog holds `__android_log_write`; ndk-sys declares it but links only libandroid.
#[link(name = "log")]
unsafe extern "C" {}

/// Makes one [`Entry`] per event, at the event's level.
pub struct Logcat;

/// One event's text, written to logcat when tracing is done with it.
pub struct Entry {
    priority: Priority,
    text: Vec<u8>,
}

impl<'a> MakeWriter<'a> for Logcat {
    type Writer = Entry;

    fn make_writer(&'a self) -> Entry {
        Entry { priority: Priority::ANDROID_LOG_INFO, text: Vec::new() }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Entry {
        let priority = match *meta.level() {
            Level::ERROR => Priority::ANDROID_LOG_ERROR,
            Level::WARN => Priority::ANDROID_LOG_WARN,
            Level::INFO => Priority::ANDROID_LOG_INFO,
            Level::DEBUG => Priority::ANDROID_LOG_DEBUG,
            Level::TRACE => Priority::ANDROID_LOG_VERBOSE,
        };
        Entry { priority, text: Vec::new() }
    }
}

impl io::Write for Entry {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // A NUL inside the text would cut it short; logcat adds its own line end.
        let text: Vec<u8> =
            self.text.trim_ascii_end().iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
        let Ok(text) = CString::new(text) else { return };
        // SAFETY: both strings are NUL-terminated and outlive the call, which copies them.
        unsafe {
            ndk_sys::__android_log_write(self.priority.0 as i32, TAG.as_ptr(), text.as_ptr());
        }
    }
}
