//! `host_facts()`: bytes that tell this machine apart from every other that may share a cache,
//! and that are the same for every process of it that sees the same process ids (temp names
//! carry a hash of them, see `engine::temp::host_id`). Whatever cannot be read is left out.
//!
//! - Linux: the host name, `/etc/machine-id`, the boot id (new at each boot: a temp from before
//!   a reboot is another host's, whose pid means nothing now) and the pid namespace (a container
//!   with its own process ids is its own host).
//! - macOS and FreeBSD: the host name and the boot time (`kern.boottime`, a `timeval` on both).
//! - Android: as Linux.
//! - Windows: the computer's DNS name.

/// This machine's identifying facts, joined with NUL bytes.
#[cfg(unix)]
pub fn host_facts() -> Vec<u8> {
    let mut out = hostname();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        for file in ["/etc/machine-id", "/proc/sys/kernel/random/boot_id"] {
            out.push(0);
            out.extend(std::fs::read(file).unwrap_or_default());
        }
        out.push(0);
        if let Ok(ns) = std::fs::read_link("/proc/self/ns/pid") {
            out.extend(ns.as_os_str().as_encoded_bytes());
        }
    }
    #[cfg(any(target_os = "macos", target_os = "freebsd"))]
    {
        out.push(0);
        out.extend(boot_time());
    }
    out
}

/// `gethostname`. https://man7.org/linux/man-pages/man2/gethostname.2.html
#[cfg(unix)]
fn hostname() -> Vec<u8> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is what we pass.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return Vec::new();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf[..len].to_vec()
}

/// `sysctl kern.boottime`, as its bytes. https://developer.apple.com/documentation/kernel/1387446-sysctlbyname,
/// https://man.freebsd.org/cgi/man.cgi?query=sysctlbyname&sektion=3
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
fn boot_time() -> Vec<u8> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>();
    // SAFETY: the name is NUL-terminated; `tv` is writable for `len` bytes, and `len` is
    // writable; no new value is set (null, 0).
    let r = unsafe {
        libc::sysctlbyname(
            c"kern.boottime".as_ptr(),
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if r != 0 {
        return Vec::new();
    }
    format!("{}.{}", tv.tv_sec, tv.tv_usec).into_bytes()
}

/// The computer's fully qualified DNS name.
/// https://learn.microsoft.com/windows/win32/api/sysinfoapi/nf-sysinfoapi-getcomputernameexw
#[cfg(windows)]
pub fn host_facts() -> Vec<u8> {
    use windows_sys::Win32::System::SystemInformation::{
        ComputerNamePhysicalDnsFullyQualified, GetComputerNameExW,
    };
    let mut buf = [0u16; 512];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` is writable for `len` UTF-16 units, and `len` is writable.
    let ok = unsafe {
        GetComputerNameExW(
            ComputerNamePhysicalDnsFullyQualified,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    if ok == 0 {
        return Vec::new();
    }
    let name = &buf[..(len as usize).min(buf.len())];
    String::from_utf16_lossy(name).into_bytes()
}
