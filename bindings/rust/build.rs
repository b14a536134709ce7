//! Finds liblazysnap with pkg-config (the `pkg-config` program, not the crate: this
//! package depends on nothing). Install the C API first (README, "The C API"), or point
//! PKG_CONFIG_PATH at PREFIX/lib/pkgconfig of an unpacked //c_api:dist.
//!
//! LAZYSNAP_LINK=static links liblazysnap.a (pkg-config module lazysnap-static); the
//! default links liblazysnap.so.0, with an rpath to its directory for this package's own
//! tests and examples.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LAZYSNAP_LINK");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let link_static = env::var("LAZYSNAP_LINK").map(|v| v == "static").unwrap_or(false);
    let module = if link_static { "lazysnap-static" } else { "lazysnap" };
    let output = Command::new("pkg-config")
        .args(["--libs", module])
        .output()
        .unwrap_or_else(|e| panic!("lazysnap: cannot run pkg-config: {e}"));
    if !output.status.success() {
        panic!(
            "lazysnap: pkg-config cannot find `{module}`: {}\nInstall lazysnap's C API \
             (README, \"The C API\") or set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig.",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let flags = String::from_utf8(output.stdout).expect("pkg-config printed UTF-8");
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
            if !link_static {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            }
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        } else if flag == "-pthread" {
            println!("cargo:rustc-link-lib=pthread");
        } else if let Some(archive) = flag.strip_suffix(".a") {
            // PREFIX/lib/liblazysnap.a
            let path = std::path::Path::new(archive);
            let dir = path.parent().expect("an archive path has a directory");
            let name = path.file_name().unwrap().to_string_lossy();
            let name = name.strip_prefix("lib").unwrap_or(&name);
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static={name}");
        } else {
            println!("cargo:warning=lazysnap: ignoring pkg-config flag {flag}");
        }
    }
}
