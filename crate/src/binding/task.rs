//! `Short`: one short engine call (one file, one `statfs`) as a napi `Task` on libuv's pool, as
//! `fs.promises.link` and `fs.promises.stat` are: `linkFile`, `resetEntry`, `fsInfo`, `probe`.

use super::{js_error, panic_error};
use crate::engine::error::Error;
use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Task};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One short engine call on libuv's pool. The engine's error is kept as data and becomes the JS
/// error in `reject`, on the JS thread; a panic is caught on the pool thread.
pub struct Short<T: Send + 'static, J> {
    run: Option<Box<dyn FnOnce() -> Result<T, Error> + Send>>,
    to_js: fn(T) -> J,
    failed: Option<Failed>,
}

enum Failed {
    Engine(Error),
    Panic(Box<dyn std::any::Any + Send>),
}

impl<T: Send + 'static, J> Short<T, J> {
    pub fn new(run: impl FnOnce() -> Result<T, Error> + Send + 'static, to_js: fn(T) -> J) -> Self {
        Short {
            run: Some(Box::new(run)),
            to_js,
            failed: None,
        }
    }
}

impl<T: Send + 'static, J: ToNapiValue + TypeName> Task for Short<T, J> {
    type Output = T;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<T> {
        let run = self.run.take();
        let out = catch_unwind(AssertUnwindSafe(move || run.map(|r| r())));
        let failure = match out {
            Ok(Some(Ok(v))) => return Ok(v),
            Ok(Some(Err(e))) => Failed::Engine(e),
            Ok(None) => Failed::Panic(Box::new("the work ran twice")),
            Err(panic) => Failed::Panic(panic),
        };
        self.failed = Some(failure);
        Err(napi::Error::from_reason("cachelink"))
    }

    fn resolve(&mut self, _env: Env, v: T) -> napi::Result<J> {
        Ok((self.to_js)(v))
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<J> {
        Err(match self.failed.take() {
            Some(Failed::Engine(e)) => js_error(&env, &e),
            Some(Failed::Panic(p)) => panic_error(&env, &*p),
            None => err,
        })
    }
}
