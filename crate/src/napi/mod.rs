//! A thin safe layer over the Node-API table in `sys`: reading arguments, building values,
//! throwing, and running work on the libuv pool (`job`). Every entry point catches panics.

pub mod job;
pub mod sys;

use std::ffi::{c_void, CStr};
use std::path::PathBuf;
use std::ptr;
use sys::*;

/// A Node-API call failed, or an argument was of the wrong type. An exception may already be
/// pending (then it is left as it is).
#[derive(Debug)]
pub enum Failure {
    Status(napi_status),
    Type(String),
}

pub type NResult<T> = Result<T, Failure>;

fn check(status: napi_status) -> NResult<()> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(Failure::Status(status))
    }
}

#[derive(Clone, Copy)]
pub struct Env(pub napi_env);

impl Env {
    /// Up to `N` arguments; missing ones are `undefined`.
    pub fn args<const N: usize>(&self, info: napi_callback_info) -> NResult<[napi_value; N]> {
        let mut argv = [ptr::null_mut(); N];
        let mut argc = N;
        // SAFETY: argv has room for argc values; the other out-pointers may be null.
        check(unsafe {
            napi_get_cb_info(
                self.0,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        })?;
        Ok(argv)
    }

    pub fn type_of(&self, v: napi_value) -> NResult<napi_valuetype> {
        let mut t = 0;
        // SAFETY: `v` is a live handle of this callback scope; `t` is a valid out-pointer.
        check(unsafe { napi_typeof(self.0, v, &mut t) })?;
        Ok(t)
    }

    /// A TypeError unless `v` is of type `want` (named `type_name` in the message).
    fn expect_type(
        &self,
        v: napi_value,
        want: napi_valuetype,
        type_name: &str,
        what: &str,
    ) -> NResult<()> {
        if self.type_of(v)? != want {
            return Err(Failure::Type(format!(
                "The \"{what}\" argument must be of type {type_name}"
            )));
        }
        Ok(())
    }

    pub fn string(&self, v: napi_value, what: &str) -> NResult<String> {
        self.expect_type(v, NAPI_STRING, "string", what)?;
        // Most strings (paths) fit a stack buffer: one call instead of a length query first.
        let mut stack = [0u8; 1024];
        let mut len = 0;
        // SAFETY: `stack` has room for `stack.len()` bytes including the NUL.
        check(unsafe {
            napi_get_value_string_utf8(self.0, v, stack.as_mut_ptr().cast(), stack.len(), &mut len)
        })?;
        // A truncated write stops up to 4 bytes short (a UTF-8 character that did not fit).
        if len + 4 < stack.len() {
            return String::from_utf8(stack[..len].to_vec())
                .map_err(|_| Failure::Type(format!("\"{what}\" is not UTF-8")));
        }
        // SAFETY: a null buffer asks for the length in bytes, without the NUL.
        check(unsafe { napi_get_value_string_utf8(self.0, v, ptr::null_mut(), 0, &mut len) })?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0;
        // SAFETY: `buf` has len + 1 bytes, room for the string and its NUL.
        check(unsafe {
            napi_get_value_string_utf8(self.0, v, buf.as_mut_ptr().cast(), len + 1, &mut written)
        })?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| Failure::Type(format!("\"{what}\" is not UTF-8")))
    }

    /// The bytes of a Buffer, copied out (they may be used after this call).
    pub fn buffer_bytes(&self, v: napi_value, what: &str) -> NResult<Vec<u8>> {
        if !self.is_buffer(v)? {
            return Err(Failure::Type(format!(
                "The \"{what}\" argument must be a Buffer"
            )));
        }
        self.copy_buffer(v)
    }

    fn is_buffer(&self, v: napi_value) -> NResult<bool> {
        let mut is_buffer = false;
        // SAFETY: `v` is a live handle; `is_buffer` is a valid out-pointer.
        check(unsafe { napi_is_buffer(self.0, v, &mut is_buffer) })?;
        Ok(is_buffer)
    }

    /// The bytes of `v`, which must be a Buffer, copied out.
    fn copy_buffer(&self, v: napi_value) -> NResult<Vec<u8>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0;
        // SAFETY: `v` is a Buffer; both out-pointers are valid.
        check(unsafe { napi_get_buffer_info(self.0, v, &mut data, &mut len) })?;
        if len == 0 || data.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: Node guarantees `len` readable bytes at `data` while `v` is alive (this call).
        Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec())
    }

    /// A path given as a string, or as a Buffer of raw bytes (names that are not UTF-8, Unix).
    pub fn path(&self, v: napi_value, what: &str) -> NResult<PathBuf> {
        let path = if self.is_buffer(v)? {
            let bytes = self.copy_buffer(v)?;
            bytes_to_path(bytes).ok_or_else(|| {
                Failure::Type(format!("The \"{what}\" argument is not a valid path"))
            })?
        } else {
            let s = self.string(v, what).map_err(|_| {
                Failure::Type(format!(
                    "The \"{what}\" argument must be of type string or an instance of Buffer"
                ))
            })?;
            PathBuf::from(s)
        };
        if path.as_os_str().is_empty() {
            return Err(Failure::Type(format!(
                "The \"{what}\" argument must not be empty"
            )));
        }
        Ok(path)
    }

    /// The bytes of an ArrayBuffer, which stay where they are while it is alive (off-heap);
    /// keep it alive with `reference` for as long as the pointer is used.
    pub fn arraybuffer(&self, v: napi_value, what: &str) -> NResult<(*mut u8, usize)> {
        let mut is = false;
        // SAFETY: `v` is a live handle; `is` a valid out-pointer.
        check(unsafe { napi_is_arraybuffer(self.0, v, &mut is) })?;
        if !is {
            return Err(Failure::Type(format!(
                "The \"{what}\" argument must be an ArrayBuffer"
            )));
        }
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0;
        // SAFETY: `v` is an ArrayBuffer; both out-pointers are valid.
        check(unsafe { napi_get_arraybuffer_info(self.0, v, &mut data, &mut len) })?;
        Ok((data.cast(), len))
    }

    /// A strong reference: `v` is not collected until `unreference`.
    pub fn reference(&self, v: napi_value) -> NResult<napi_ref> {
        let mut r = ptr::null_mut();
        // SAFETY: `v` is a live handle; `r` a valid out-pointer.
        check(unsafe { napi_create_reference(self.0, v, 1, &mut r) })?;
        Ok(r)
    }

    pub fn unreference(&self, r: napi_ref) {
        // SAFETY: `r` came from `reference` on this env and is deleted once.
        unsafe { napi_delete_reference(self.0, r) };
    }

    pub fn bool(&self, v: napi_value, what: &str) -> NResult<bool> {
        self.expect_type(v, NAPI_BOOLEAN, "boolean", what)?;
        let mut b = false;
        // SAFETY: `v` is a boolean; `b` is a valid out-pointer.
        check(unsafe { napi_get_value_bool(self.0, v, &mut b) })?;
        Ok(b)
    }

    pub fn number(&self, v: napi_value, what: &str) -> NResult<f64> {
        self.expect_type(v, NAPI_NUMBER, "number", what)?;
        let mut n = 0.0;
        // SAFETY: `v` is a number; `n` is a valid out-pointer.
        check(unsafe { napi_get_value_double(self.0, v, &mut n) })?;
        Ok(n)
    }

    pub fn create_string(&self, s: &str) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `s` is valid UTF-8 of the given length (no NUL needed with a length).
        check(unsafe { napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len(), &mut v) })?;
        Ok(v)
    }

    /// A new Buffer holding a copy of `bytes`.
    pub fn buffer(&self, bytes: &[u8]) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        let mut data = ptr::null_mut();
        // SAFETY: `bytes` is readable for its length during the call; both out-pointers are
        // valid.
        check(unsafe {
            napi_create_buffer_copy(
                self.0,
                bytes.len(),
                bytes.as_ptr().cast(),
                &mut data,
                &mut v,
            )
        })?;
        Ok(v)
    }

    pub fn object(&self) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { napi_create_object(self.0, &mut v) })?;
        Ok(v)
    }

    pub fn array(&self, items: &[napi_value]) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { napi_create_array_with_length(self.0, items.len(), &mut v) })?;
        for (i, item) in items.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| Failure::Status(9))?;
            // SAFETY: `v` is the array just created; `item` a live handle.
            check(unsafe { napi_set_element(self.0, v, index, *item) })?;
        }
        Ok(v)
    }

    pub fn set(&self, object: napi_value, name: &CStr, value: napi_value) -> NResult<()> {
        // SAFETY: `object` is a live object handle and `name` a NUL-terminated string.
        check(unsafe { napi_set_named_property(self.0, object, name.as_ptr(), value) })
    }

    pub fn boolean(&self, b: bool) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { napi_get_boolean(self.0, b, &mut v) })?;
        Ok(v)
    }

    pub fn double(&self, n: f64) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { napi_create_double(self.0, n, &mut v) })?;
        Ok(v)
    }

    pub fn undefined(&self) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { napi_get_undefined(self.0, &mut v) })?;
        Ok(v)
    }

    pub fn null(&self) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        // SAFETY: `v` is a valid out-pointer.
        check(unsafe { napi_get_null(self.0, &mut v) })?;
        Ok(v)
    }

    /// A plain `Error` with `code` set.
    pub fn error(&self, code: &str, msg: &str) -> NResult<napi_value> {
        let (c, m) = (self.create_string(code)?, self.create_string(msg)?);
        let mut v = ptr::null_mut();
        // SAFETY: `c` and `m` are live string handles; `v` is a valid out-pointer.
        check(unsafe { napi_create_error(self.0, c, m, &mut v) })?;
        Ok(v)
    }

    pub fn type_error(&self, msg: &str) -> NResult<napi_value> {
        let c = self.create_string("ERR_INVALID_ARG_TYPE")?;
        let m = self.create_string(msg)?;
        let mut v = ptr::null_mut();
        // SAFETY: `c` and `m` are live string handles; `v` is a valid out-pointer.
        check(unsafe { napi_create_type_error(self.0, c, m, &mut v) })?;
        Ok(v)
    }

    pub fn throw(&self, error: napi_value) {
        // SAFETY: `error` is a live handle. If throwing fails there is nothing left to do.
        unsafe { napi_throw(self.0, error) };
    }

    pub fn exception_pending(&self) -> bool {
        let mut pending = false;
        // SAFETY: `pending` is a valid out-pointer.
        unsafe { napi_is_exception_pending(self.0, &mut pending) };
        pending
    }

    /// The JS value for a failure: a TypeError for bad arguments, an Error otherwise.
    pub fn failure_value(&self, f: &Failure) -> NResult<napi_value> {
        match f {
            Failure::Type(msg) => self.type_error(msg),
            Failure::Status(s) => self.error(
                "ERR_CACHELINK_NAPI",
                &format!("Node-API call failed with status {s}"),
            ),
        }
    }

    /// Throws for a failure unless an exception is already pending; returns null for the
    /// callback to return.
    pub fn throw_failure(&self, f: &Failure) -> napi_value {
        if !self.exception_pending() {
            if let Ok(e) = self.failure_value(f) {
                self.throw(e);
            }
        }
        ptr::null_mut()
    }

    pub fn function(&self, name: &CStr, cb: napi_callback) -> NResult<napi_value> {
        let mut v = ptr::null_mut();
        let len = name.to_bytes().len();
        // SAFETY: `name` is NUL-terminated and `len` its length; `cb` a valid callback.
        check(unsafe {
            napi_create_function(self.0, name.as_ptr(), len, cb, ptr::null_mut(), &mut v)
        })?;
        Ok(v)
    }
}

#[cfg(unix)]
pub fn bytes_to_path(bytes: Vec<u8>) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

#[cfg(not(unix))]
pub fn bytes_to_path(bytes: Vec<u8>) -> Option<PathBuf> {
    String::from_utf8(bytes).ok().map(PathBuf::from)
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
