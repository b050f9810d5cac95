//! Tool argument validation with JSON Schema (`jsonschema::validator_for`, then `iter_errors`
//! rendered with instance paths), as the sandbox (`toolset::build_tool`,
//! `service::validate_arguments`) and the gateway (`catalog`, `mcp::call`) do it.
//!
//! The first byte picks the schema: below 128, the input or output schema of one of the real
//! tools built from this repository (`schemas/tools.json`), with the rest of the input as the
//! instance; otherwise the rest is a schema, a zero byte, and an instance, so hostile schemas
//! (huge or backtracking `pattern`s, `format`, deep `$ref` chains) are compiled too.
//!
//! Invariants: the real schemas accept what they describe the same way every time (validation
//! is deterministic: `is_valid` agrees with `iter_errors`); rendering an error never panics.
//! Unbounded time shows up as a libFuzzer timeout (`-timeout` in scripts/fuzz.sh).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(validator: &jsonschema::Validator, instance: &Value) {
    let problems = mcp_contract::schema::problems(validator, instance);
    assert_eq!(
        problems.is_empty(),
        validator.is_valid(instance),
        "is_valid disagrees with iter_errors: {problems:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector < 128 {
        let tools = mcp_fuzz::tool_schemas();
        let validators = mcp_fuzz::tool_validators();
        let i = usize::from(selector) % tools.len();
        let Ok(instance) = serde_json::from_slice::<Value>(rest) else {
            return;
        };
        check(&validators[i].1, &instance);
        if selector & 64 != 0
            && let Some(output) = &tools[i].output
            && let Ok(v) = jsonschema::validator_for(output)
        {
            check(&v, &instance);
        }
        return;
    }
    let [schema, instance] = mcp_fuzz::fields::<2>(rest);
    let Ok(schema) = serde_json::from_slice::<Value>(schema) else {
        return;
    };
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return;
    };
    let instance = serde_json::from_slice::<Value>(instance).unwrap_or(Value::Null);
    check(&validator, &instance);
});
