fn main() {
    // x86_64-pc-windows-gnu is built only to run the engine's tests under Wine
    // (scripts/wine-test.sh), never shipped, and without the binding: napi-build would look for
    // a libnode.dll to link there.
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-windows-gnu") {
        return;
    }
    napi_build::setup();
}
