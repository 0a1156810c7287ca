//! The Node-API 8 functions cachelink uses, declared by hand (no napi crate: the crates
//! registry cannot be reached) and looked up once, at registration, in the process that loaded
//! us: `dlsym(RTLD_DEFAULT)` on Unix, `GetProcAddress` on the host executable on Windows. The
//! same path runs on every OS and the addon needs no link flags (no undefined symbols).
//!
//! Signatures: https://nodejs.org/api/n-api.html (and `js_native_api.h`, `node_api.h`).

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};
use std::sync::OnceLock;

pub type napi_env = *mut c_void;
pub type napi_value = *mut c_void;
pub type napi_callback_info = *mut c_void;
pub type napi_deferred = *mut c_void;
pub type napi_async_work = *mut c_void;
pub type napi_ref = *mut c_void;
pub type napi_status = i32;
pub type napi_valuetype = i32;

pub const NAPI_OK: napi_status = 0;
pub const NAPI_CANCELLED: napi_status = 11;

pub const NAPI_BOOLEAN: napi_valuetype = 2;
pub const NAPI_NUMBER: napi_valuetype = 3;
pub const NAPI_STRING: napi_valuetype = 4;

pub type napi_callback = unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value;
pub type napi_async_execute_callback = unsafe extern "C" fn(napi_env, *mut c_void);
pub type napi_async_complete_callback = unsafe extern "C" fn(napi_env, napi_status, *mut c_void);

/// Declares the table and one wrapper per function.
///
/// ```text
/// napi_functions! { fn napi_typeof(env: napi_env, value: napi_value, out: *mut napi_valuetype); }
/// ```
/// expands to a field `napi_typeof: unsafe extern "C" fn(napi_env, napi_value, *mut
/// napi_valuetype) -> napi_status` of `Table`, a lookup of the symbol "napi_typeof" in `load`,
/// and `pub unsafe fn napi_typeof(env, value, out) -> napi_status` calling through the table
/// (returning `napi_generic_failure`, 9, if the table was never loaded).
macro_rules! napi_functions {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?);)*) => {
        #[allow(non_snake_case)]
        pub struct Table {
            $($name: unsafe extern "C" fn($($ty),*) -> napi_status,)*
        }

        static TABLE: OnceLock<Table> = OnceLock::new();

        /// Fills the table; returns the name of the first function the host does not have.
        pub fn load() -> Result<(), &'static str> {
            if TABLE.get().is_some() {
                return Ok(());
            }
            let table = Table {
                $($name: {
                    let ptr = lookup(concat!(stringify!($name), "\0"));
                    if ptr.is_null() {
                        return Err(stringify!($name));
                    }
                    // SAFETY: the host exports this symbol with exactly the signature declared
                    // above (Node-API's stable C ABI), and the pointer is not null.
                    unsafe {
                        std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($ty),*)
                            -> napi_status>(ptr)
                    }
                },)*
            };
            let _ = TABLE.set(table);
            Ok(())
        }

        $(
            /// # Safety
            /// The arguments must satisfy the Node-API contract of this function.
            pub unsafe fn $name($($arg: $ty),*) -> napi_status {
                match TABLE.get() {
                    Some(t) => (t.$name)($($arg),*),
                    None => 9,
                }
            }
        )*
    };
}

napi_functions! {
    fn napi_get_cb_info(env: napi_env, info: napi_callback_info, argc: *mut usize,
        argv: *mut napi_value, this: *mut napi_value, data: *mut *mut c_void);
    fn napi_typeof(env: napi_env, value: napi_value, result: *mut napi_valuetype);
    fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char,
        bufsize: usize, result: *mut usize);
    fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool);
    fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64);
    fn napi_is_buffer(env: napi_env, value: napi_value, result: *mut bool);
    fn napi_get_buffer_info(env: napi_env, value: napi_value, data: *mut *mut c_void,
        length: *mut usize);
    fn napi_create_buffer_copy(env: napi_env, length: usize, data: *const c_void,
        result_data: *mut *mut c_void, result: *mut napi_value);
    fn napi_create_object(env: napi_env, result: *mut napi_value);
    fn napi_create_array_with_length(env: napi_env, length: usize, result: *mut napi_value);
    fn napi_set_element(env: napi_env, object: napi_value, index: u32, value: napi_value);
    fn napi_set_named_property(env: napi_env, object: napi_value, name: *const c_char,
        value: napi_value);
    fn napi_create_string_utf8(env: napi_env, s: *const c_char, length: usize,
        result: *mut napi_value);
    fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value);
    fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value);
    fn napi_get_undefined(env: napi_env, result: *mut napi_value);
    fn napi_get_null(env: napi_env, result: *mut napi_value);
    fn napi_create_function(env: napi_env, name: *const c_char, length: usize,
        cb: napi_callback, data: *mut c_void, result: *mut napi_value);
    fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value,
        result: *mut napi_value);
    fn napi_create_type_error(env: napi_env, code: napi_value, msg: napi_value,
        result: *mut napi_value);
    fn napi_throw(env: napi_env, error: napi_value);
    fn napi_is_exception_pending(env: napi_env, result: *mut bool);
    fn napi_create_promise(env: napi_env, deferred: *mut napi_deferred,
        promise: *mut napi_value);
    fn napi_resolve_deferred(env: napi_env, deferred: napi_deferred, value: napi_value);
    fn napi_reject_deferred(env: napi_env, deferred: napi_deferred, value: napi_value);
    fn napi_create_async_work(env: napi_env, resource: napi_value, resource_name: napi_value,
        execute: napi_async_execute_callback, complete: napi_async_complete_callback,
        data: *mut c_void, result: *mut napi_async_work);
    fn napi_queue_async_work(env: napi_env, work: napi_async_work);
    fn napi_delete_async_work(env: napi_env, work: napi_async_work);
    fn napi_is_arraybuffer(env: napi_env, value: napi_value, result: *mut bool);
    fn napi_get_arraybuffer_info(env: napi_env, value: napi_value, data: *mut *mut c_void,
        length: *mut usize);
    fn napi_create_reference(env: napi_env, value: napi_value, initial: u32,
        result: *mut napi_ref);
    fn napi_delete_reference(env: napi_env, reference: napi_ref);
}

#[cfg(unix)]
fn lookup(name: &'static str) -> *mut c_void {
    extern "C" {
        // https://man7.org/linux/man-pages/man3/dlsym.3.html
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }
    // RTLD_DEFAULT: every object loaded in the process, the node executable first.
    #[cfg(target_vendor = "apple")]
    let default = -2isize as *mut c_void;
    #[cfg(not(target_vendor = "apple"))]
    let default = std::ptr::null_mut();
    // SAFETY: `name` is a NUL-terminated static string; dlsym only reads it.
    unsafe { dlsym(default, name.as_ptr().cast()) }
}

#[cfg(windows)]
fn lookup(name: &'static str) -> *mut c_void {
    #[link(name = "kernel32")]
    extern "system" {
        // https://learn.microsoft.com/windows/win32/api/libloaderapi/nf-libloaderapi-getmodulehandlew
        fn GetModuleHandleW(name: *const u16) -> *mut c_void;
        // https://learn.microsoft.com/windows/win32/api/libloaderapi/nf-libloaderapi-getprocaddress
        fn GetProcAddress(module: *mut c_void, name: *const c_char) -> *mut c_void;
    }
    // SAFETY: a null name asks for the host executable (node.exe), which stays loaded for the
    // life of the process; `name` is a NUL-terminated static string.
    unsafe {
        let host = GetModuleHandleW(std::ptr::null());
        if host.is_null() {
            return std::ptr::null_mut();
        }
        GetProcAddress(host, name.as_ptr().cast())
    }
}
