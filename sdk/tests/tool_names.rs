//! The SDK's tool-name check follows the contract's shared vector
//! (`contract/tests/tool_names.json`): a tool the SDK builds can always be named in a policy, and
//! a name a policy accepts can always be defined.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[test]
fn tool_names_follow_the_contracts_shared_vector() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contract/tests/tool_names.json"),
    )
    .unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() > 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        assert_eq!(
            mcp_tool_sdk::validate_tool_name(name).is_ok(),
            case["tool"].as_bool().unwrap(),
            "{name:?}"
        );
    }
}
