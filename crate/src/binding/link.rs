//! `linkFile` and `resetEntry`, with their sync twins. One file is short work: the async form is
//! a `Task` on libuv's pool, as `fs.promises.link` is.

use super::task::Short;
use super::{settle, to_path, LinkMethod};
use crate::engine::link::{self, IfExists, LinkLimit, OnLinkLimit, Options, Outcome};
use crate::engine::method::{Chain, Method, Requested};
use napi::bindgen_prelude::AsyncTask;
use napi::bindgen_prelude::{Buffer, Either};
use napi::Env;
use napi_derive::napi;
use std::path::PathBuf;

/// The method asked for: `auto`, or one by name.
#[napi(string_enum = "lowercase")]
pub enum RequestedMethod {
    Auto,
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

#[napi(string_enum = "lowercase")]
pub enum OnLinkLimitOption {
    Reset,
    Copy,
    Error,
}

#[napi(string_enum = "lowercase")]
pub enum IfExistsOption {
    Error,
    Replace,
    Keep,
}

/// The link options, every one present (the facade fills in the defaults).
#[napi(object)]
pub struct NativeLinkOptions {
    /// `auto`, one method, or the caller's ordered list (`reflink` already made `clone`).
    pub method: Either<RequestedMethod, Vec<LinkMethod>>,
    pub fallback: bool,
    pub on_link_limit: OnLinkLimitOption,
    /// 0: none.
    pub max_links: i64,
    pub if_exists: IfExistsOption,
}

fn engine_method(m: &LinkMethod) -> Method {
    match m {
        LinkMethod::Clone => Method::Clone,
        LinkMethod::Hardlink => Method::Hardlink,
        LinkMethod::Copy => Method::Copy,
        LinkMethod::Symlink => Method::Symlink,
    }
}

impl NativeLinkOptions {
    pub fn engine(&self) -> napi::Result<Options> {
        let invalid = |what: String| napi::Error::new(napi::Status::InvalidArg, what);
        let method = match &self.method {
            Either::A(RequestedMethod::Auto) => Requested::Auto,
            Either::A(RequestedMethod::Clone) => Requested::Only(Method::Clone),
            Either::A(RequestedMethod::Hardlink) => Requested::Only(Method::Hardlink),
            Either::A(RequestedMethod::Copy) => Requested::Only(Method::Copy),
            Either::A(RequestedMethod::Symlink) => Requested::Only(Method::Symlink),
            Either::B(list) => {
                let methods: Vec<Method> = list.iter().map(engine_method).collect();
                let chain = Chain::of(&methods).ok_or_else(|| {
                    invalid("Invalid \"method\": a list of one to four methods, none twice".into())
                })?;
                if !self.fallback {
                    return Err(invalid(
                        "Invalid \"fallback\": false with a list of methods".into(),
                    ));
                }
                Requested::List(chain)
            }
        };
        let max_links = match self.max_links {
            0 => None,
            n if n >= 2 => Some(n as u64),
            n => return Err(invalid(format!("Invalid \"maxLinks\": {n}"))),
        };
        Ok(Options {
            method,
            fallback: self.fallback,
            on_link_limit: match self.on_link_limit {
                OnLinkLimitOption::Reset => OnLinkLimit::Reset,
                OnLinkLimitOption::Copy => OnLinkLimit::Copy,
                OnLinkLimitOption::Error => OnLinkLimit::Error,
            },
            max_links,
            if_exists: match self.if_exists {
                IfExistsOption::Error => IfExists::Error,
                IfExistsOption::Replace => IfExists::Replace,
                IfExistsOption::Keep => IfExists::Keep,
            },
        })
    }
}

/// The method used, or `none` when the destination was left as it was.
#[napi(string_enum = "lowercase")]
pub enum UsedMethod {
    None,
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

/// What happened at the link limit.
#[napi(string_enum = "kebab-case")]
pub enum LinkLimitOutcome {
    Reset,
    Copy,
    CopyReadonlyCache,
}

#[napi(object)]
pub struct Fallback {
    pub method: LinkMethod,
    pub code: String,
}

/// What `linkFile` did: exactly the public `LinkResult`.
#[napi(object, use_nullable = true)]
pub struct LinkResult {
    pub method: UsedMethod,
    pub reset: bool,
    pub link_limit: Option<LinkLimitOutcome>,
    pub reset_error: Option<String>,
    pub fallbacks: Vec<Fallback>,
    pub link_refused: Option<String>,
    /// `'hidden'` when `maxLinks` was given and the hard link left the source reading one link
    /// (SFTP through sshfs): the cap could not be applied. `null` otherwise.
    #[napi(ts_type = "'hidden' | null")]
    pub link_counts: Option<String>,
    pub retries: u32,
}

impl From<Outcome> for LinkResult {
    fn from(o: Outcome) -> Self {
        let method = match o.method {
            None => UsedMethod::None,
            Some(Method::Clone) => UsedMethod::Clone,
            Some(Method::Hardlink) => UsedMethod::Hardlink,
            Some(Method::Copy) => UsedMethod::Copy,
            Some(Method::Symlink) => UsedMethod::Symlink,
        };
        let (link_limit, reset_error) = match o.link_limit {
            None => (None, None),
            Some(LinkLimit::Reset) => (Some(LinkLimitOutcome::Reset), None),
            Some(LinkLimit::Copied) => (Some(LinkLimitOutcome::Copy), None),
            Some(LinkLimit::CacheReadOnly(code)) => (
                Some(LinkLimitOutcome::CopyReadonlyCache),
                Some(code.to_string()),
            ),
        };
        LinkResult {
            method,
            reset: matches!(link_limit, Some(LinkLimitOutcome::Reset)),
            link_limit,
            reset_error,
            fallbacks: o
                .fallbacks
                .into_iter()
                .map(|(m, code)| Fallback {
                    method: m.into(),
                    code: code.to_string(),
                })
                .collect(),
            link_refused: o.link_refused.map(str::to_string),
            link_counts: o.link_counts_hidden.then(|| "hidden".to_string()),
            retries: o.retries,
        }
    }
}

/// `linkFile`'s options packed in one number, kept from the hand-made binding because a
/// benchmark showed it is worth it: an options object and a result object cost about 30
/// Node-API calls per file, and `linkFile` at 64 in flight fell from 83k to 60k files/s
/// (README, "The binding"). Bits 0-2 the method (0 auto, 1 clone, 2 hardlink, 3 copy,
/// 4 symlink, 5 a list), bit 3 fallback, bits 4-5 onLinkLimit (0 reset, 1 copy, 2 error), bits
/// 6-7 ifExists (0 error, 1 replace, 2 keep); with a list, bits 8-19 its methods, 3 bits each
/// from bit 8 (1 clone, 2 hardlink, 3 copy, 4 symlink), 0 after the last. `maxLinks` 0 means
/// none. `ts/options.ts` packs them.
fn packed_options(flags: u32, max_links: i64) -> napi::Result<Options> {
    let bad = || {
        napi::Error::new(
            napi::Status::InvalidArg,
            format!("Invalid link options: flags {flags}, maxLinks {max_links}"),
        )
    };
    let method = match flags & 7 {
        0 => Either::A(RequestedMethod::Auto),
        1 => Either::A(RequestedMethod::Clone),
        2 => Either::A(RequestedMethod::Hardlink),
        3 => Either::A(RequestedMethod::Copy),
        4 => Either::A(RequestedMethod::Symlink),
        5 => Either::B(packed_list(flags >> 8).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    let on_link_limit = match (flags >> 4) & 3 {
        0 => OnLinkLimitOption::Reset,
        1 => OnLinkLimitOption::Copy,
        2 => OnLinkLimitOption::Error,
        _ => return Err(bad()),
    };
    let if_exists = match (flags >> 6) & 3 {
        0 => IfExistsOption::Error,
        1 => IfExistsOption::Replace,
        2 => IfExistsOption::Keep,
        _ => return Err(bad()),
    };
    if flags >= 1 << 20 || (flags & 7 != 5 && flags >= 1 << 8) {
        return Err(bad());
    }
    NativeLinkOptions {
        method,
        fallback: flags & 8 != 0,
        on_link_limit,
        max_links,
        if_exists,
    }
    .engine()
}

/// A list of methods, 3 bits each from the lowest, ended by 0 (or the fourth); `None` for a
/// number that is not one.
fn packed_list(mut bits: u32) -> Option<Vec<LinkMethod>> {
    let mut list = Vec::new();
    while bits & 7 != 0 {
        list.push(match bits & 7 {
            1 => LinkMethod::Clone,
            2 => LinkMethod::Hardlink,
            3 => LinkMethod::Copy,
            4 => LinkMethod::Symlink,
            _ => return None,
        });
        bits >>= 3;
    }
    (bits == 0).then_some(list)
}

/// The common outcome (no fallback, no read-only cache, no refused link) as one number, for the same reason:
/// `method + 8 * linkLimit`, method 0 none, 1 clone, 2 hardlink, 3 copy, 4 symlink; linkLimit
/// 0 none, 1 reset, 2 copy. Anything else comes as the full `LinkResult`.
fn packed_outcome(o: Outcome) -> Either<u32, LinkResult> {
    let method = match o.method {
        None => 0,
        Some(Method::Clone) => 1,
        Some(Method::Hardlink) => 2,
        Some(Method::Copy) => 3,
        Some(Method::Symlink) => 4,
    };
    let limit = match o.link_limit {
        None => Some(0),
        Some(LinkLimit::Reset) => Some(1),
        Some(LinkLimit::Copied) => Some(2),
        Some(LinkLimit::CacheReadOnly(_)) => None,
    };
    match limit {
        Some(limit)
            if o.fallbacks.is_empty()
                && o.link_refused.is_none()
                && !o.link_counts_hidden
                && o.retries == 0 =>
        {
            Either::A(method + 8 * limit)
        }
        _ => Either::B(o.into()),
    }
}

fn paths(
    src: Either<String, Buffer>,
    dest: Either<String, Buffer>,
) -> napi::Result<(PathBuf, PathBuf)> {
    Ok((to_path(src, "src")?, to_path(dest, "dest")?))
}

/// `flags` and `maxLinks` as `packed_options` reads them. Resolves with the outcome as
/// `outcome_code` packs it when it can, else a `LinkResult`.
#[napi(catch_unwind, ts_return_type = "Promise<number | LinkResult>")]
pub fn link_file(
    src: Either<String, Buffer>,
    dest: Either<String, Buffer>,
    flags: u32,
    max_links: i64,
) -> napi::Result<AsyncTask<Short<Outcome, Either<u32, LinkResult>>>> {
    let (src, dest) = paths(src, dest)?;
    let opts = packed_options(flags, max_links)?;
    Ok(AsyncTask::new(Short::new(
        move || link::link_file(&src, &dest, &opts),
        packed_outcome,
    )))
}

#[napi(catch_unwind)]
pub fn link_file_sync(
    env: Env,
    src: Either<String, Buffer>,
    dest: Either<String, Buffer>,
    flags: u32,
    max_links: i64,
) -> napi::Result<Either<u32, LinkResult>> {
    let (src, dest) = paths(src, dest)?;
    let opts = packed_options(flags, max_links)?;
    settle(&env, link::link_file(&src, &dest, &opts)).map(packed_outcome)
}

#[napi(catch_unwind, ts_return_type = "Promise<void>")]
pub fn reset_entry(
    path: Either<String, Buffer>,
    hold: bool,
) -> napi::Result<AsyncTask<Short<(), ()>>> {
    let path = to_path(path, "path")?;
    Ok(AsyncTask::new(Short::new(
        move || link::reset_entry(&path, hold),
        |()| (),
    )))
}

#[napi(catch_unwind)]
pub fn reset_entry_sync(env: Env, path: Either<String, Buffer>, hold: bool) -> napi::Result<()> {
    let path = to_path(path, "path")?;
    settle(&env, link::reset_entry(&path, hold))
}
