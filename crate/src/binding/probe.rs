//! `probe` and its sync twin: a few system calls, as a `Short` task on libuv's pool (as
//! `fs.promises.stat` is), so it does not hold the JS thread although it returns a promise.

use super::cache::{fs_info_to_js, FsInfo};
use super::task::Short;
use super::{settle, to_path};
use crate::engine::probe::{self, Probe, METHODS};
use napi::bindgen_prelude::{AsyncTask, Buffer, Either};
use napi::Env;
use napi_derive::napi;

/// Whether a method works between the two places: exactly the public `MethodProbe`.
#[napi(object, use_nullable = true)]
pub struct MethodProbe {
    pub works: Option<bool>,
    pub code: Option<String>,
}

#[napi(object)]
pub struct ProbeMethods {
    pub hardlink: MethodProbe,
    pub clone: MethodProbe,
    pub symlink: MethodProbe,
    pub copy: MethodProbe,
}

/// The file the methods were tried with: exactly the public `ProbeSource`.
#[napi(object)]
pub struct ProbeSource {
    pub path: String,
    pub temp: bool,
}

/// The four methods a probe tries.
#[napi(string_enum = "lowercase")]
pub enum ProbeMethod {
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

impl From<crate::engine::method::Method> for ProbeMethod {
    fn from(m: crate::engine::method::Method) -> Self {
        use crate::engine::method::Method;
        match m {
            Method::Clone => ProbeMethod::Clone,
            Method::Hardlink => ProbeMethod::Hardlink,
            Method::Copy => ProbeMethod::Copy,
            Method::Symlink => ProbeMethod::Symlink,
        }
    }
}

#[napi(object)]
pub struct ProbeFallback {
    pub method: ProbeMethod,
    pub code: String,
}

#[napi(string_enum = "lowercase")]
pub enum AutoMethod {
    None,
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

#[napi(object, use_nullable = true)]
pub struct ProbeAuto {
    pub method: AutoMethod,
    pub fallbacks: Vec<ProbeFallback>,
    pub error: Option<ProbeFallback>,
}

#[napi(string_enum = "kebab-case")]
pub enum AtLinkLimit {
    Reset,
    CopyReadonlyCache,
}

/// What `probe` found; the facade adds `dir` to `cache` and `target`, and `sameDevice`.
#[napi(object, use_nullable = true)]
pub struct NativeProbe {
    pub cache: FsInfo,
    pub target: FsInfo,
    pub source: Option<ProbeSource>,
    pub cache_writable: bool,
    pub cache_write_error: Option<String>,
    pub at_link_limit: AtLinkLimit,
    pub methods: ProbeMethods,
    pub auto: ProbeAuto,
    /// `'real'`, `'hidden'` (a hard link made left the source reading one link: SFTP through
    /// sshfs), or `'unknown'` (no hard link was made).
    #[napi(ts_type = "'real' | 'hidden' | 'unknown'")]
    pub link_counts: String,
}

fn probe_to_js(p: Probe) -> NativeProbe {
    let method = |i: usize| MethodProbe {
        works: p.methods[i].map(|r| r.is_ok()),
        code: p.methods[i].and_then(|r| r.err()).map(str::to_string),
    };
    let at = |m| METHODS.iter().position(|&x| x == m).unwrap_or(0);
    use crate::engine::method::Method;
    let fallback = |(m, code): (Method, &str)| ProbeFallback {
        method: m.into(),
        code: code.to_string(),
    };
    NativeProbe {
        link_counts: match p.link_counts_hidden {
            None => "unknown",
            Some(true) => "hidden",
            Some(false) => "real",
        }
        .to_string(),
        methods: ProbeMethods {
            hardlink: method(at(Method::Hardlink)),
            clone: method(at(Method::Clone)),
            symlink: method(at(Method::Symlink)),
            copy: method(at(Method::Copy)),
        },
        auto: ProbeAuto {
            method: match p.auto.method {
                None => AutoMethod::None,
                Some(Method::Clone) => AutoMethod::Clone,
                Some(Method::Hardlink) => AutoMethod::Hardlink,
                Some(Method::Copy) => AutoMethod::Copy,
                Some(Method::Symlink) => AutoMethod::Symlink,
            },
            fallbacks: p.auto.fallbacks.into_iter().map(fallback).collect(),
            error: p.auto.error.map(fallback),
        },
        cache: fs_info_to_js(p.cache),
        target: fs_info_to_js(p.target),
        source: p.source.map(|s| ProbeSource {
            path: s.path.to_string_lossy().into_owned(),
            temp: s.temp,
        }),
        cache_writable: p.cache_write_error.is_none(),
        cache_write_error: p.cache_write_error.map(str::to_string),
        at_link_limit: if p.cache_write_error.is_none() {
            AtLinkLimit::Reset
        } else {
            AtLinkLimit::CopyReadonlyCache
        },
    }
}

/// Tries every method between `cacheDir` and `targetDir` (see `engine::probe`).
#[napi(catch_unwind, ts_return_type = "Promise<NativeProbe>")]
pub fn probe(
    cache_dir: Either<String, Buffer>,
    target_dir: Either<String, Buffer>,
) -> napi::Result<AsyncTask<Short<Probe, NativeProbe>>> {
    let cache = to_path(cache_dir, "cacheDir")?;
    let target = to_path(target_dir, "targetDir")?;
    Ok(AsyncTask::new(Short::new(
        move || probe::probe(&cache, &target),
        probe_to_js,
    )))
}

#[napi(catch_unwind)]
pub fn probe_sync(
    env: Env,
    cache_dir: Either<String, Buffer>,
    target_dir: Either<String, Buffer>,
) -> napi::Result<NativeProbe> {
    let cache = to_path(cache_dir, "cacheDir")?;
    let target = to_path(target_dir, "targetDir")?;
    settle(&env, probe::probe(&cache, &target)).map(probe_to_js)
}
