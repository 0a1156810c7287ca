//! `verify` and `verifySync`: store entries checked against their digests on cachelink's pool
//! (`engine::verify`), mismatches repaired in place from a good copy. The entries cross as one
//! Buffer (`path\0algo\0hex\0good\0...`, as `importFiles`' do); results name entries by index,
//! and the facade puts the caller's paths and digest strings back.

use super::control::Control;
use super::{run, settle};
use crate::engine::error::Error;
use crate::engine::verify::{self, Repair, Report};
use napi::bindgen_prelude::{Buffer, Object};
use napi::Env;
use napi_derive::napi;

/// An engine error as data (the facade builds Node's fs error from it).
#[napi(object, use_nullable = true)]
pub struct NativeFailure {
    pub code: String,
    pub raw: i32,
    pub syscall: String,
    pub path: String,
    pub detail: Option<String>,
}

fn failure(e: &Error) -> NativeFailure {
    NativeFailure {
        code: e.code.to_string(),
        raw: e.raw,
        syscall: e.syscall.to_string(),
        path: e.path.to_string_lossy().into_owned(),
        detail: e.detail.map(str::to_string),
    }
}

#[napi(string_enum = "kebab-case")]
pub enum RepairOutcome {
    Done,
    GoodMismatch,
    Failed,
}

#[napi(object, use_nullable = true)]
pub struct NativeMismatch {
    pub index: u32,
    /// Hex.
    pub actual: String,
    pub size: f64,
    /// Null when there was no good copy (or repairs are off).
    pub repair: Option<RepairOutcome>,
    /// With `good-mismatch`: the good copy's digest, hex.
    pub good_actual: Option<String>,
    /// With `failed`.
    pub repair_error: Option<NativeFailure>,
}

#[napi(object)]
pub struct NativeUnreadable {
    pub index: u32,
    pub error: NativeFailure,
}

#[napi(object)]
pub struct NativeVerifyResult {
    pub files: f64,
    pub ok: f64,
    pub bytes_hashed: f64,
    pub repaired: f64,
    pub mismatches: Vec<NativeMismatch>,
    pub unreadable: Vec<NativeUnreadable>,
    pub elapsed_ms: f64,
}

fn to_js(_env: &Env, r: Report) -> napi::Result<NativeVerifyResult> {
    let mismatches = r
        .mismatches
        .into_iter()
        .map(|m| {
            let (repair, good_actual, repair_error) = match &m.repair {
                None => (None, None, None),
                Some(Repair::Done) => (Some(RepairOutcome::Done), None, None),
                Some(Repair::GoodMismatch(d)) => (
                    Some(RepairOutcome::GoodMismatch),
                    Some(verify::to_hex(d)),
                    None,
                ),
                Some(Repair::Failed(e)) => (Some(RepairOutcome::Failed), None, Some(failure(e))),
            };
            NativeMismatch {
                index: m.index as u32,
                actual: verify::to_hex(&m.actual),
                size: m.size as f64,
                repair,
                good_actual,
                repair_error,
            }
        })
        .collect();
    Ok(NativeVerifyResult {
        files: r.files as f64,
        ok: r.ok as f64,
        bytes_hashed: r.bytes as f64,
        repaired: r.repaired as f64,
        mismatches,
        unreadable: r
            .unreadable
            .iter()
            .map(|(i, e)| NativeUnreadable {
                index: *i as u32,
                error: failure(e),
            })
            .collect(),
        elapsed_ms: r.elapsed_ms,
    })
}

/// Checks the entries in `records`, repairing mismatches with a good copy when `repair`.
#[napi(catch_unwind, ts_return_type = "Promise<NativeVerifyResult>")]
pub fn verify<'env>(
    env: &'env Env,
    records: Buffer,
    repair: bool,
    control: &Control,
) -> napi::Result<Object<'env>> {
    let records = records.to_vec();
    let shared = control.shared.clone();
    let work = move || {
        let entries = verify::parse_entries(&records)?;
        verify::verify(&entries, repair, &shared.engine())
    };
    run::spawn(env, work, to_js)
}

#[napi(catch_unwind)]
pub fn verify_sync(
    env: Env,
    records: Buffer,
    repair: bool,
    control: &Control,
) -> napi::Result<NativeVerifyResult> {
    let run = || {
        let entries = verify::parse_entries(&records)?;
        verify::verify(&entries, repair, &control.shared.engine())
    };
    let r = settle(&env, run())?;
    to_js(&env, r)
}
