//! Rust bindings for `wit/mcp-tool.wit`, generated once here so tool crates need neither
//! `wit-bindgen` nor the WIT file. Tool authors use [`crate::export_tools!`] instead of these.

wit_bindgen::generate!({
    path: "wit",
    world: "tool-component",
    pub_export_macro: true,
    export_macro_name: "__export_tool_component",
    default_bindings_module: "::mcp_tool_sdk::bindings",
});
