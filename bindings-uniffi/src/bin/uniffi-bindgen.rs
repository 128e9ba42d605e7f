//! uniffi's generator, built from this workspace so that it matches the crate's uniffi.
fn main() {
    uniffi::uniffi_bindgen_main()
}
